"""The cloud's one origin in Terraform: held to the routing table the code and the emulator use
(convoinsight.web.gateway), with TLS, the HTTP redirect, ingress, bucket CORS, warm instances and alerts."""

from __future__ import annotations

import json
import logging

from convoinsight.observability.logs import CloudLoggingFormatter
from convoinsight.web.gateway import EXTRA_ROUTES, PRIVATE_FUNCTIONS, PUBLIC_FUNCTIONS
from tests.unit.test_infrastructure import ENVIRONMENTS, MODULES, _functions_config, _unq
from tests.unit.test_infrastructure import _parse as _raw_parse
from tests.unit.test_infrastructure import _resources as _raw_resources

GATEWAY = MODULES / "gateway" / "main.tf"
MONITORING = MODULES / "monitoring" / "main.tf"
STACK = MODULES / "stack" / "main.tf"


def _deep(value):
    """python-hcl2 keeps the quotes of labels, keys and string literals: strip them all the way down."""
    if isinstance(value, dict):
        return {_unq(k): _deep(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return _unq(value)


def _parse(path) -> dict:
    return _deep(_raw_parse(path))


def _resources(path, rtype) -> dict:
    return _deep(_raw_resources(path, rtype))


def _module(path, name) -> dict:
    return next(next(iter(m.values())) for m in _parse(path)["module"] if next(iter(m)) == name)


def test_the_url_map_serves_exactly_the_routing_table_of_the_code():
    gateway = _module(STACK, "gateway")
    assert gateway["extra_routes"] == dict(EXTRA_ROUTES)
    assert gateway["services"] == "${module.functions.public_service_names}"
    config = _functions_config()
    assert {name for name, f in config.items() if f["public"]} == set(PUBLIC_FUNCTIONS)
    assert {name for name, f in config.items() if not f["public"]} == set(PRIVATE_FUNCTIONS)
    text = GATEWAY.read_text()
    # Every public function's prefix, bare and with /*, and each extra route the same way, unrewritten.
    assert '"/api/v1/${name}" => name' in text and '"/api/v1/${name}/*" => name' in text
    assert '"${path}/*" => name' in text and "url_rewrite" not in text
    url_map = _resources(GATEWAY, "google_compute_url_map")["api"]
    rule = url_map["path_matcher"][0]["dynamic"][0]["path_rule"]
    assert rule["for_each"] == "${var.services}"


def test_tls_with_a_managed_certificate_and_http_only_redirects():
    cert = _resources(GATEWAY, "google_compute_managed_ssl_certificate")["api"]
    assert cert["managed"][0]["domains"] == ["${var.domain}"]
    rules = _resources(GATEWAY, "google_compute_global_forwarding_rule")
    assert (rules["https"]["port_range"], rules["http"]["port_range"]) == ("443", "80")
    assert rules["http"]["target"] == "${google_compute_target_http_proxy.redirect.id}"
    redirect = _resources(GATEWAY, "google_compute_url_map")["redirect"]["default_url_redirect"][0]
    assert redirect["https_redirect"] is True and redirect["redirect_response_code"] == "MOVED_PERMANENTLY_DEFAULT"
    neg = _resources(GATEWAY, "google_compute_region_network_endpoint_group")["function"]
    assert neg["network_endpoint_type"] == "SERVERLESS" and neg["cloud_run"][0]["service"] == "${each.value}"


def test_cloud_armor_is_optional_and_attached_to_every_backend():
    policy = _resources(GATEWAY, "google_compute_security_policy")["api"]
    assert policy["count"] == "${var.cloud_armor ? 1 : 0}"
    backend = _resources(GATEWAY, "google_compute_backend_service")["function"]
    assert backend["security_policy"] == "${var.cloud_armor ? google_compute_security_policy.api[0].id : null}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"
    prod = _parse(ENVIRONMENTS / "prod" / "variables.tf")["variable"]
    assert next(v["cloud_armor"] for v in prod if "cloud_armor" in v)["default"] is True


def test_public_functions_take_traffic_only_through_the_load_balancer_and_urls_are_absolute():
    fn = _resources(MODULES / "functions" / "main.tf", "google_cloudfunctions2_function")["function"]
    ingress = fn["service_config"][0]["ingress_settings"]
    assert ingress == '${each.value.public ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_INTERNAL_ONLY"}'
    assert 'PUBLIC_BASE_URL = var.domain == "" ? "" : "https://${var.domain}"' in STACK.read_text()


def test_the_bucket_cors_comes_from_the_same_origins_as_cors_origins():
    storage = _module(STACK, "storage")
    assert storage["cors_origins"] == "${var.cors_origins}"
    assert 'CORS_ORIGINS          = join(",", var.cors_origins)' in STACK.read_text()
    bucket = _resources(MODULES / "storage" / "main.tf", "google_storage_bucket")
    cors = next(d["cors"] for d in bucket["datasets"]["dynamic"] if "cors" in d)
    assert cors["for_each"] == "${length(var.cors_origins) > 0 ? [var.cors_origins] : []}"
    assert {"PUT", "GET", "HEAD"} <= set(cors["content"][0]["method"])


def test_queries_and_pipeline_stay_warm_in_prod_only():
    fn = _resources(MODULES / "functions" / "main.tf", "google_cloudfunctions2_function")["function"]
    assert fn["service_config"][0]["min_instance_count"] == "${lookup(var.min_instances, each.key, 0)}"
    functions = _module(STACK, "functions")
    assert functions["min_instances"] == {"queries": "${var.min_instances_queries}",
                                          "pipeline": "${var.min_instances_pipeline}"}
    for env, warm in (("prod", 1), ("dev", 0)):
        declared = {k: v for block in _parse(ENVIRONMENTS / env / "variables.tf")["variable"] for k, v in block.items()}
        assert declared["min_instances_queries"]["default"] == declared["min_instances_pipeline"]["default"] == warm


def test_log_based_metrics_read_the_fields_every_request_log_entry_has():
    # A real request entry as the functions write it.
    record = logging.LogRecord("convoinsight.web", logging.INFO, __file__, 1, "GET / 200", None, None)
    record.fields = {"event": "request", "status": 200, "latency_ms": 3.2}
    entry = json.loads(CloudLoggingFormatter("p").format(record))
    assert {"event", "status", "latency_ms"} <= set(entry)
    metrics = _resources(MONITORING, "google_logging_metric")
    assert 'jsonPayload.event=\\"request\\"' in MONITORING.read_text()
    assert metrics["requests"]["filter"] == "${local.requests}"
    assert metrics["latency"]["value_extractor"] == "EXTRACT(jsonPayload.latency_ms)"
    assert metrics["server_errors"]["filter"].endswith("AND jsonPayload.status>=500")
    assert set(metrics["requests"]["label_extractors"]) == {"function", "status"}
    alerts = _resources(MONITORING, "google_monitoring_alert_policy")
    error = alerts["error_rate"]["conditions"][0]["condition_threshold"][0]
    assert "server_errors" in error["filter"] and "requests" in error["denominator_filter"]
    assert error["threshold_value"] == "${var.error_rate_threshold}"
    p95 = alerts["latency_p95"]["conditions"][0]["condition_threshold"][0]
    assert p95["aggregations"][0]["per_series_aligner"] == "ALIGN_PERCENTILE_95"
    assert p95["threshold_value"] == "${var.p95_latency_ms}"
