# The log filters and extractors of the metrics, and nothing else: plain locals, so
# tests/unit/test_terraform_monitoring.py can evaluate them with `terraform console` (no provider needed) and
# check every field they read against a request log entry that a real function writes.
#
# Each request ends with one JSON log entry (convoinsight/web/app.py, observability/logs.py) whose jsonPayload
# holds event "request", function (the folder name: queries), route, status (the HTTP status, an integer) and
# latency_ms (a float); severity is ERROR for 5xx, WARNING for 4xx, INFO otherwise. The metrics count by status,
# not by severity, which other log lines share.

locals {
  # Only this deployment's functions (gen2 functions log as their Cloud Run revision): the exact service names,
  # so that a dev deployment in the same project (convoinsight-dev-*) is never counted with prod (convoinsight-*).
  services_filter = "resource.labels.service_name=(${join(" OR ", [for s in sort(var.services) : "\"${s}\""])})"
  request_filter  = "resource.type=\"cloud_run_revision\" AND ${local.services_filter} AND jsonPayload.event=\"request\""
  error_filter    = "${local.request_filter} AND jsonPayload.status>=500"
  # Entries the framework answers itself (a crash before the app) carry a status but no latency.
  latency_filter = "${local.request_filter} AND jsonPayload.latency_ms:*"

  function_label = "EXTRACT(jsonPayload.function)"
  status_label   = "EXTRACT(jsonPayload.status)"
  # The status class: "2", "4", "5" (the field is turned into a string before the regex applies).
  status_class_label = "REGEXP_EXTRACT(jsonPayload.status, \"^([1-5])[0-9][0-9]$\")"
  latency_value      = "EXTRACT(jsonPayload.latency_ms)"
}
