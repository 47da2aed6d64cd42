# Serverless instances are many and short-lived, so nothing is scraped from them: besides /api/v1/metrics
# (totals kept in Redis), Cloud Monitoring turns the request log entry every function writes into log-based
# metrics (filters.tf), and alerts on them.

resource "google_logging_metric" "requests" {
  project     = var.project_id
  name        = "${var.name_prefix}-requests"
  description = "Requests answered, by function, status and status class (2, 4, 5)."
  filter      = local.request_filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
    labels {
      key = "status"
    }
    labels {
      key = "status_class"
    }
  }
  label_extractors = {
    function     = local.function_label
    status       = local.status_label
    status_class = local.status_class_label
  }
}

resource "google_logging_metric" "server_errors" {
  project     = var.project_id
  name        = "${var.name_prefix}-server-errors"
  description = "Requests answered with a 5xx, by function."
  filter      = local.error_filter

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = local.function_label
  }
}

resource "google_logging_metric" "latency" {
  project         = var.project_id
  name            = "${var.name_prefix}-latency"
  description     = "Request latency (latency_ms of the request log entry), by function."
  filter          = local.latency_filter
  value_extractor = local.latency_value

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = local.function_label
  }
  # 1 ms to ~1.6e6 ms in steps of x1.5: covers the pipeline's 600 s timeout with room to spare.
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 36
      growth_factor      = 1.5
      scale              = 1
    }
  }
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  project      = var.project_id
  display_name = "${var.name_prefix} alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

locals {
  window = "${var.window_seconds}s"
}

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: 5xx above ${var.error_rate_threshold * 100}% of requests"
  combiner              = "OR"
  notification_channels = google_monitoring_notification_channel.email[*].id

  conditions {
    display_name = "server error ratio over ${local.window}"
    condition_threshold {
      # 5xx / all requests of every function over the window: one ratio for the whole API.
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.server_errors.name}\" AND resource.type=\"cloud_run_revision\""
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.requests.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "0s"
      aggregations {
        alignment_period     = local.window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = local.window
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.error_rate_threshold * 100}% of requests answered 5xx over ${local.window}. In Logs Explorer: `${local.error_filter}`; the `function` and `route` fields say where, `request_id` ties an entry to the client's X-Request-Id."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}

resource "google_monitoring_alert_policy" "latency_p95" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: p95 latency above ${var.p95_latency_ms} ms"
  combiner              = "OR"
  notification_channels = google_monitoring_notification_channel.email[*].id

  conditions {
    display_name = "p95 request latency by function over ${local.window}"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.latency.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.p95_latency_ms
      duration        = "0s"
      # p95 of each series (one per revision and function) over the window, then the worst per function.
      aggregations {
        alignment_period     = local.window
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A function's p95 latency exceeded ${var.p95_latency_ms} ms over ${local.window}. Async questions are answered in pipeline stages: queries' own latency stays low; look at pipeline and at the model calls (`jsonPayload.event=\"llm_call\"`, `latency_ms` per agent)."
  }

  alert_strategy {
    auto_close = "1800s"
  }
}
