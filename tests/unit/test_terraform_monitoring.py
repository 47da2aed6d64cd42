"""Monitoring in Terraform (terraform/modules/monitoring) reads what the functions really log.

A real function answers real requests through its entry point; its request log entries are captured as Cloud
Logging would receive them, and every field the log-based metrics filter on or extract (filters.tf, evaluated by
Terraform itself where a terraform binary exists) must be in them, with the types the filters assume.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from convoinsight.observability.logs import CloudLoggingFormatter
from tests.conftest import function_client
from tests.unit.test_infrastructure import ENVIRONMENTS, MODULES, _functions_config, needs_terraform, terraform_eval
from tests.unit.test_terraform_gateway import _module, _parse, _resources, _variables

MONITORING = MODULES / "monitoring"
STACK = MODULES / "stack" / "main.tf"
PREFIX = "convoinsight"
SERVICES = [f"{PREFIX}-{name}" for name in sorted(_functions_config())]


class _Entries(logging.Handler):
    """Formats each record when it is emitted, as the functions' stderr handler does (the request context is
    gone once the request is over)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.formatter_ = CloudLoggingFormatter("my-project-id")
        self.entries: list[dict] = []

    def emit(self, record):
        self.entries.append(json.loads(self.formatter_.format(record)))


@pytest.fixture
def request_entries(local_env):
    root, handler = logging.getLogger(), _Entries()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        client = function_client("health")
        assert client.get("/api/v1/health/live").status_code == 200
        assert client.get("/api/v1/health/no-such-route").status_code == 404
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return [e for e in handler.entries if e.get("event") == "request"]


FILTER_LOCALS = ("services_filter", "request_filter", "error_filter", "latency_filter", "function_label",
                 "status_label", "status_class_label", "latency_value")


def _filters(services=SERVICES) -> dict:
    """Every local of filters.tf, as Terraform computes it."""
    expression = "{" + ", ".join(f"{name} = local.{name}" for name in FILTER_LOCALS) + "}"
    return terraform_eval([MONITORING / "filters.tf", MONITORING / "variables.tf"],
                          {"project_id": "my-project-id", "name_prefix": PREFIX, "services": services}, expression)


def test_every_request_writes_one_entry_with_the_fields_the_metrics_read(request_entries):
    ok, missing = request_entries
    for entry in (ok, missing):
        assert entry["event"] == "request" and entry["function"] == "health"
        assert isinstance(entry["status"], int) and isinstance(entry["latency_ms"], float)
    assert (ok["status"], ok["severity"], ok["route"]) == (200, "INFO", "GET /live")
    assert (missing["status"], missing["severity"]) == (404, "WARNING")


@needs_terraform
def test_the_log_filters_read_only_fields_a_request_entry_has(request_entries):
    declared = {k for k in _parse(MONITORING / "filters.tf")["locals"][0] if not k.startswith("__")}
    assert declared == set(FILTER_LOCALS)  # none left unchecked
    filters = _filters()
    fields = set()
    for name in FILTER_LOCALS:
        fields |= set(re.findall(r"jsonPayload\.([A-Za-z_]+)", filters[name]))
    assert fields == {"event", "status", "function", "latency_ms"}
    for entry in request_entries:
        assert fields <= set(entry)
    assert 'jsonPayload.event="request"' in filters["request_filter"]
    assert filters["error_filter"] == filters["request_filter"] + " AND jsonPayload.status>=500"
    assert filters["latency_filter"] == filters["request_filter"] + " AND jsonPayload.latency_ms:*"
    assert filters["latency_value"] == "EXTRACT(jsonPayload.latency_ms)"
    assert filters["function_label"] == "EXTRACT(jsonPayload.function)"
    # The status class from the integer status, turned into a string first as Cloud Logging does.
    pattern = re.fullmatch(r'REGEXP_EXTRACT\(jsonPayload\.status, "(.+)"\)', filters["status_class_label"]).group(1)
    classes = {re.search(pattern, str(e["status"])).group(1) for e in request_entries}
    assert classes == {"2", "4"} and re.search(pattern, "503").group(1) == "5"


@needs_terraform
def test_only_this_deployments_functions_are_counted():
    prod = _filters()["services_filter"]
    assert prod == "resource.labels.service_name=(" + " OR ".join(f'"{s}"' for s in SERVICES) + ")"
    assert "convoinsight-dev-" not in prod  # exact names: a dev deployment in the same project is apart
    dev = _filters([f"{PREFIX}-dev-{name}" for name in sorted(_functions_config())])["services_filter"]
    assert '"convoinsight-dev-queries"' in dev and '"convoinsight-queries"' not in dev
    assert 'resource.type="cloud_run_revision"' in _filters()["request_filter"]  # how gen2 functions log


def test_the_metrics_count_requests_by_function_and_status_class_errors_and_latency():
    metrics = _resources(MONITORING / "main.tf", "google_logging_metric")
    requests, errors, latency = metrics["requests"], metrics["server_errors"], metrics["latency"]
    assert requests["filter"] == "${local.request_filter}"
    assert requests["label_extractors"] == {"function": "${local.function_label}", "status": "${local.status_label}",
                                            "status_class": "${local.status_class_label}"}
    assert [label["key"] for label in requests["metric_descriptor"][0]["labels"]] == ["function", "status",
                                                                                     "status_class"]
    assert errors["filter"] == "${local.error_filter}"
    assert errors["label_extractors"] == {"function": "${local.function_label}"}
    assert latency["filter"] == "${local.latency_filter}" and latency["value_extractor"] == "${local.latency_value}"
    descriptor = latency["metric_descriptor"][0]
    assert (descriptor["value_type"], descriptor["metric_kind"], descriptor["unit"]) == ("DISTRIBUTION", "DELTA", "ms")
    buckets = latency["bucket_options"][0]["exponential_buckets"][0]
    top = buckets["scale"] * buckets["growth_factor"] ** buckets["num_finite_buckets"]
    assert top > 600_000  # the pipeline's 600 s timeout still lands in a finite bucket
    for metric in metrics.values():
        assert metric["metric_descriptor"][0]["metric_kind"] == "DELTA"


def test_alerts_on_the_5xx_ratio_and_p95_latency_read_those_metrics():
    alerts = _resources(MONITORING / "main.tf", "google_monitoring_alert_policy")
    error = alerts["error_rate"]["conditions"][0]["condition_threshold"][0]
    assert "${google_logging_metric.server_errors.name}" in error["filter"]
    assert "${google_logging_metric.requests.name}" in error["denominator_filter"]
    assert error["threshold_value"] == "${var.error_rate_threshold}" and error["comparison"] == "COMPARISON_GT"
    for aggregation in (error["aggregations"][0], error["denominator_aggregations"][0]):
        assert aggregation["alignment_period"] == "${local.window}"
        assert (aggregation["per_series_aligner"], aggregation["cross_series_reducer"]) == ("ALIGN_DELTA",
                                                                                          "REDUCE_SUM")
    p95 = alerts["latency_p95"]["conditions"][0]["condition_threshold"][0]
    assert "${google_logging_metric.latency.name}" in p95["filter"]
    assert p95["aggregations"][0]["per_series_aligner"] == "ALIGN_PERCENTILE_95"
    assert p95["aggregations"][0]["group_by_fields"] == ["metric.label.function"]
    assert p95["threshold_value"] == "${var.p95_latency_ms}"
    # Mailed when an address is given; the policies exist either way.
    channel = _resources(MONITORING / "main.tf", "google_monitoring_notification_channel")["email"]
    assert channel["count"] == '${var.alert_email == "" ? 0 : 1}' and channel["type"] == "email"
    for alert in alerts.values():
        assert alert["notification_channels"] == "${google_monitoring_notification_channel.email[*].id}"
        assert alert["documentation"][0]["content"]


def test_the_thresholds_reach_the_module_from_both_environments():
    monitoring = _module(STACK, "monitoring")
    assert monitoring["services"] == "${values(module.functions.names)}"
    for name in ("alert_email", "error_rate_threshold", "p95_latency_ms"):
        assert monitoring[name] == f"${{var.{name}}}"
        assert _variables(MODULES / "stack" / "variables.tf")[name]["validation"]
    for env in ("prod", "dev"):
        call = _module(ENVIRONMENTS / env / "main.tf", "stack")
        declared = _variables(ENVIRONMENTS / env / "variables.tf")
        for name in ("alert_email", "error_rate_threshold", "p95_latency_ms"):
            assert call[name] == f"${{var.{name}}}" and name in declared
    assert _variables(MODULES / "stack" / "variables.tf")["error_rate_threshold"]["default"] == 0.02
    apis = _parse(STACK)["locals"][0]["apis"]
    assert {"logging.googleapis.com", "monitoring.googleapis.com", "compute.googleapis.com"} <= set(apis)


@needs_terraform
@pytest.mark.parametrize(("override", "message"), [
    ({"error_rate_threshold": 2}, "between 0 and 1"),
    ({"window_seconds": 90}, "whole minutes"),
    ({"alert_email": "not-an-address"}, "email address"),
    ({"services": []}, "non-empty list"),
])
def test_the_monitoring_module_refuses_bad_inputs(override, message):
    from tests.unit.test_infrastructure import TerraformError

    values = {"project_id": "my-project-id", "name_prefix": PREFIX, "services": SERVICES, **override}
    with pytest.raises(TerraformError, match=message):
        terraform_eval([MONITORING / "filters.tf", MONITORING / "variables.tf"], values, "local.request_filter")
