# Serverless instances are many and short-lived: besides /api/v1/metrics (totals kept in Redis), Cloud
# Monitoring reads the request log entries every function writes (observability/logs.py: jsonPayload
# event "request", function, route, status, latency_ms) into log-based metrics, and alerts on them.

locals {
  requests = "resource.type=\"cloud_run_revision\" AND jsonPayload.event=\"request\" AND resource.labels.service_name=starts_with(\"${var.name_prefix}-\")"
}

resource "google_logging_metric" "requests" {
  project = var.project_id
  name    = "${var.name_prefix}-requests"
  filter  = local.requests

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
    labels {
      key = "status"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
    status   = "EXTRACT(jsonPayload.status)"
  }
}

resource "google_logging_metric" "server_errors" {
  project = var.project_id
  name    = "${var.name_prefix}-server-errors"
  filter  = "${local.requests} AND jsonPayload.status>=500"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
  }
}

resource "google_logging_metric" "latency" {
  project         = var.project_id
  name            = "${var.name_prefix}-latency"
  filter          = local.requests
  value_extractor = "EXTRACT(jsonPayload.latency_ms)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "ms"
    labels {
      key = "function"
    }
  }
  label_extractors = {
    function = "EXTRACT(jsonPayload.function)"
  }
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 32
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

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: 5xx above ${var.error_rate_threshold * 100}% of requests"
  combiner              = "OR"
  notification_channels = google_monitoring_notification_channel.email[*].id

  conditions {
    display_name = "server error ratio"
    condition_threshold {
      filter             = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.server_errors.name}\" AND resource.type=\"cloud_run_revision\""
      denominator_filter = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.requests.name}\" AND resource.type=\"cloud_run_revision\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }
}

resource "google_monitoring_alert_policy" "latency_p95" {
  project               = var.project_id
  display_name          = "${var.name_prefix}: p95 latency above ${var.p95_latency_ms} ms"
  combiner              = "OR"
  notification_channels = google_monitoring_notification_channel.email[*].id

  conditions {
    display_name = "p95 request latency by function"
    condition_threshold {
      filter          = "metric.type=\"logging.googleapis.com/user/${google_logging_metric.latency.name}\" AND resource.type=\"cloud_run_revision\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.p95_latency_ms
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["metric.label.function"]
      }
    }
  }
}
