output "metric_names" {
  description = "The log-based metrics: requests, server errors, latency."
  value = [google_logging_metric.requests.name, google_logging_metric.server_errors.name,
  google_logging_metric.latency.name]
}
