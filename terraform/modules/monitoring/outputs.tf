output "metric_names" {
  description = "The log-based metrics: requests, server errors, latency."
  value = [google_logging_metric.requests.name, google_logging_metric.server_errors.name,
  google_logging_metric.latency.name]
}

output "alert_policies" {
  description = "Names of the alert policies (5xx ratio, p95 latency)."
  value       = [google_monitoring_alert_policy.error_rate.name, google_monitoring_alert_policy.latency_p95.name]
}
