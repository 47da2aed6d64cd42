# The stage queue of cloud mode and the identity whose OIDC token Cloud Tasks sends to the pipeline function.

resource "google_cloud_tasks_queue" "pipeline" {
  project  = var.project_id
  location = var.region
  name     = var.queue_name

  retry_config {
    max_attempts  = var.max_attempts
    min_backoff   = "${var.min_backoff_seconds}s"
    max_backoff   = "${var.max_backoff_seconds}s"
    max_doublings = 4
  }

  rate_limits {
    max_concurrent_dispatches = var.max_concurrent_dispatches
    max_dispatches_per_second = 50
  }

  stackdriver_logging_config {
    sampling_ratio = 0.1
  }
}

resource "google_service_account" "invoker" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-tasks"
  display_name = "ConvoInsight Cloud Tasks invoker of the pipeline function"
}
