"""The cloud's one origin in Terraform (terraform/modules/gateway), held to the routing table the code and the
emulator use (convoinsight.web.gateway), with TLS, the HTTP redirect, Cloud Armor, ingress, PUBLIC_BASE_URL,
the bucket's CORS and warm instances.

The URL map's paths are computed by Terraform itself (``terraform console`` over routes.tf, offline) and compared
with ``function_for``; without a terraform binary those tests skip and the parsed checks still run.
"""

from __future__ import annotations

import re

import pytest

from convoinsight.web.gateway import API_PREFIX, EXTRA_ROUTES, PRIVATE_FUNCTIONS, PUBLIC_FUNCTIONS, function_for
from convoinsight.web.responses import bucket_cors_headers
from local_emulator.console import CONTENT_SECURITY_POLICY, is_console_path
from tests.conftest import function_client
from tests.support.http import assert_error
from tests.unit.test_infrastructure import (
    ENVIRONMENTS,
    MODULES,
    TerraformError,
    _functions_config,
    _unq,
    needs_terraform,
    terraform_eval,
)
from tests.unit.test_infrastructure import _parse as _raw_parse
from tests.unit.test_infrastructure import _resources as _raw_resources

GATEWAY = MODULES / "gateway"
STACK = MODULES / "stack" / "main.tf"
FUNCTIONS = MODULES / "functions" / "main.tf"
PREFIX = "convoinsight"


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


def _variables(path) -> dict:
    return {k: v for block in _parse(path)["variable"] for k, v in block.items()}


def _gateway_values(**overrides) -> dict:
    """The gateway module's inputs as the stack gives them: every public function, the stack's extra routes."""
    values = {"project_id": "my-project-id", "region": "europe-west1", "name_prefix": PREFIX,
              "domain": "api.example.com",
              "services": {name: f"{PREFIX}-{name}" for name in PUBLIC_FUNCTIONS},
              "extra_routes": _module(STACK, "gateway")["extra_routes"]}
    return {**values, **overrides}


def _routes(**overrides) -> dict[str, str]:
    return terraform_eval([GATEWAY / "routes.tf", GATEWAY / "variables.tf"], _gateway_values(**overrides),
                          "local.routes")


def _expected_routes(functions=PUBLIC_FUNCTIONS) -> dict[str, str]:
    """What the code's table means at a URL map: every prefix bare and with /*, extra routes first-class."""
    routes = {}
    for name in functions:
        routes[f"{API_PREFIX}/{name}"] = routes[f"{API_PREFIX}/{name}/*"] = name
    for path, name in EXTRA_ROUTES:
        if name in functions:
            routes[path] = routes[f"{path}/*"] = name
    return routes


# --- The routing table --------------------------------------------------------------------------------------

def test_the_stack_gives_the_gateway_the_code_table_and_only_public_functions():
    gateway = _module(STACK, "gateway")
    assert gateway["extra_routes"] == dict(EXTRA_ROUTES)
    assert gateway["services"] == "${module.functions.public_service_names}"
    assert gateway["count"] == '${var.domain == "" ? 0 : 1}'
    config = _functions_config()
    assert {name for name, f in config.items() if f["public"]} == set(PUBLIC_FUNCTIONS)
    assert {name for name, f in config.items() if not f["public"]} == set(PRIVATE_FUNCTIONS)
    outputs = {k: v for block in _parse(MODULES / "functions" / "outputs.tf")["output"] for k, v in block.items()}
    assert "if local.functions[name].public" in outputs["public_service_names"]["value"]
    # One path rule per function, from routes.tf; nothing in the module rewrites a path.
    url_map = _resources(GATEWAY / "main.tf", "google_compute_url_map")["api"]
    rule = url_map["path_matcher"][0]["dynamic"][0]["path_rule"]
    assert len(url_map["path_matcher"][0]["dynamic"]) == 2  # the functions' rules, and health's /api/v1/* below
    assert rule["for_each"] == "${local.paths_by_function}"
    assert rule["content"][0]["paths"] == "${path_rule.value}"
    text = (GATEWAY / "main.tf").read_text()
    assert "url_rewrite" not in text and "route_rules" not in text and "path_prefix_rewrite" not in text
    # Another host goes to health, which answers the API's JSON 404 (below); the domain's unclaimed paths go to the
    # web console's bucket, except /api/v1/*, which stays health's (test_the_console_bucket_takes_the_rest_of_the_site).
    assert url_map["default_service"] == "${local.health_backend}"
    assert url_map["path_matcher"][0]["default_service"] == "${local.site_backend}"
    assert url_map["lifecycle"][0]["precondition"][0]["condition"] == "${length(local.routes) == local.route_count}"


@needs_terraform
def test_the_url_map_serves_exactly_the_routing_table_of_the_code():
    routes = _routes()
    assert routes == _expected_routes()
    assert not set(routes.values()) & set(PRIVATE_FUNCTIONS)
    # The load balancer and the emulator (function_for) send every path to the same function.
    for path, name in routes.items():
        probe = path.removesuffix("/*") + ("/anything/below" if path.endswith("/*") else "")
        assert function_for(probe) == name, (path, function_for(probe), name)
    for private in PRIVATE_FUNCTIONS:
        assert function_for(f"{API_PREFIX}/{private}/") is None
        assert not any(p.startswith(f"{API_PREFIX}/{private}") for p in routes)
    # One path rule per backend, each with its own paths, sorted (a stable plan).
    by_function = terraform_eval([GATEWAY / "routes.tf", GATEWAY / "variables.tf"], _gateway_values(),
                                 "local.paths_by_function")
    assert set(by_function) == set(PUBLIC_FUNCTIONS)
    for name, paths in by_function.items():
        assert paths == sorted(p for p, fn in routes.items() if fn == name)
    assert by_function["charts"][:2] == ["/api/v1/charts", "/api/v1/charts/*"]
    assert {"/api/v1/storage", "/api/v1/storage/*"} <= set(by_function["charts"])
    assert {"/upload-datasets", "/list-domains", "/domain/*"} <= set(by_function["datasets"])
    assert {"/api/v1/openapi.json", "/api/v1/metrics"} <= set(by_function["health"])


@needs_terraform
def test_a_route_to_a_function_not_behind_the_load_balancer_is_dropped_as_function_for_drops_it():
    public = tuple(n for n in PUBLIC_FUNCTIONS if n != "charts")
    routes = _routes(services={name: f"{PREFIX}-{name}" for name in public})
    assert routes == _expected_routes(public)
    assert "/api/v1/storage/*" not in routes and function_for("/api/v1/storage/charts", public) is None


@needs_terraform
def test_two_claims_on_one_path_trip_the_url_map_precondition():
    values = _gateway_values(services={**_gateway_values()["services"], "storage": f"{PREFIX}-storage"})
    files = [GATEWAY / "routes.tf", GATEWAY / "variables.tf"]
    count = terraform_eval(files, values, "local.route_count")
    assert len(terraform_eval(files, values, "local.routes")) < count  # what the precondition refuses
    assert len(_routes()) == terraform_eval(files, _gateway_values(), "local.route_count")


@needs_terraform
@pytest.mark.parametrize(("override", "message"), [
    ({"domain": "https://api.example.com"}, "lowercase DNS name"),
    ({"domain": "api.example.com."}, "lowercase DNS name"),
    ({"services": {"queries": f"{PREFIX}-queries"}}, "must include health"),
    ({"log_sample_rate": 2}, "between 0 and 1"),
])
def test_the_gateway_refuses_bad_inputs(override, message):
    with pytest.raises(TerraformError, match=message):
        _routes(**override)


def test_unclaimed_paths_reach_health_and_answer_the_json_404(local_env):
    """The URL map's default backend is health: private functions' paths and unknown paths get the API's 404.

    With the web console (the default) the domain's unclaimed paths outside /api/v1/ go to its bucket instead, as the
    emulator serves the console there; health's root-level routes (``/``, ``/live``, ``/ready``) then answer under
    /api/v1/health only (another host, or ``console = false``, still reaches them at the root).
    """
    client = function_client("health")
    for path in ("/api/v1/pipeline/", "/api/v1/pipeline", "/api/v1/ingest", "/api/v2/queries", "/admin",
                 "/api/v1/health-check"):
        assert function_for(path) is None
        assert_error(client.get(path), 404, "route_not_found")
    assert client.post("/api/v1/pipeline/", json={"job_id": "j", "stage": "router"}).status_code in (404, 405)
    assert client.get("/api/v1/health/live").status_code == 200  # its own prefix, as the URL map sends it
    assert client.get("/").get_json()["service"] == "convoinsight"


# --- The web console's bucket ------------------------------------------------------------------------------

CONSOLE = GATEWAY / "console.tf"


def test_the_console_bucket_takes_the_rest_of_the_site():
    """/ and every path no route claims go to the console's bucket; /api/v1/* that no function claims stays health's."""
    gateway_locals = {k: v for block in _parse(GATEWAY / "main.tf")["locals"] for k, v in block.items()}
    assert gateway_locals["site_backend"] == \
        "${var.console ? google_compute_backend_bucket.console[0].id : local.health_backend}"
    assert gateway_locals["health_backend"] == '${google_compute_backend_service.function["health"].id}'
    url_map = _resources(GATEWAY / "main.tf", "google_compute_url_map")["api"]
    unclaimed = url_map["path_matcher"][0]["dynamic"][1]["path_rule"]
    assert unclaimed["for_each"] == "${var.console ? [local.unclaimed_api_paths] : []}"
    assert unclaimed["content"][0] == {"paths": "${path_rule.value}", "service": "${local.health_backend}"}
    assert _variables(GATEWAY / "variables.tf")["console"]["default"] is True


@needs_terraform
def test_unclaimed_api_paths_stay_with_the_api_and_the_rest_is_the_console_as_in_the_emulator():
    files = [GATEWAY / "routes.tf", GATEWAY / "variables.tf"]
    unclaimed = terraform_eval(files, _gateway_values(), "local.unclaimed_api_paths")
    assert unclaimed == [f"{API_PREFIX}/*"]
    routes = _routes()
    assert not set(unclaimed) & set(routes)  # a path claimed twice would fail the URL map
    # Each path reaches the same thing at the load balancer and in the emulator: a function, the API's 404 (health
    # behind the load balancer, the emulator's own JSON 404), or the console's files.
    for path in ("/", "/index.html", "/assets/app.js", "/vendor/vega-6.2.0/vega.min.js"):
        assert function_for(path) is None and is_console_path(path)
    for path in ("/api/v1/pipeline/", "/api/v1/ingest", "/api/v1/health-check"):
        assert function_for(path) is None and not is_console_path(path)


def test_the_console_bucket_is_public_read_static_files_only():
    bucket = _resources(CONSOLE, "google_storage_bucket")["console"]
    assert bucket["count"] == "${var.console ? 1 : 0}"
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "inherited"  # its objects are public on purpose
    assert bucket["website"][0]["main_page_suffix"] == "index.html"
    assert bucket["versioning"][0]["enabled"] is False
    assert "cors" not in bucket and "dynamic" not in bucket  # same origin as the API: no CORS needed
    reader = _resources(CONSOLE, "google_storage_bucket_iam_member")["console_public"]
    assert (reader["role"], reader["member"]) == ("roles/storage.objectViewer", "allUsers")
    assert reader["bucket"] == "${google_storage_bucket.console[0].name}"  # this bucket's objects only
    # The datasets bucket never becomes public.
    datasets = _resources(MODULES / "storage" / "main.tf", "google_storage_bucket")["datasets"]
    assert datasets["public_access_prevention"] == "enforced"


def test_the_console_backend_sends_the_emulators_security_headers_and_cdn_is_optional():
    backend = _resources(CONSOLE, "google_compute_backend_bucket")["console"]
    assert backend["bucket_name"] == "${google_storage_bucket.console[0].name}"
    assert backend["enable_cdn"] == "${var.console_cdn}"
    cdn = next(d["cdn_policy"] for d in backend["dynamic"] if "cdn_policy" in d)
    assert cdn["for_each"] == "${var.console_cdn ? [1] : []}"
    assert cdn["content"][0]["cache_mode"] == "USE_ORIGIN_HEADERS"  # the objects' Cache-Control decides
    headers = dict(h.split(": ", 1) for h in backend["custom_response_headers"])
    assert headers["Content-Security-Policy"] == "${local.console_csp}"
    csp = next(block["console_csp"] for block in _parse(CONSOLE)["locals"] if "console_csp" in block)
    # The emulator's policy, plus the storage host that signed upload URLs point at.
    assert csp == CONTENT_SECURITY_POLICY.replace("connect-src 'self'", "connect-src 'self' https://storage.googleapis.com")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    stack = _module(STACK, "gateway")
    assert stack["console_cdn"] == "${var.console_cdn}"
    for env, cdn_on in (("prod", True), ("dev", False)):
        assert _variables(ENVIRONMENTS / env / "variables.tf")["console_cdn"]["default"] is cdn_on
        assert _module(ENVIRONMENTS / env / "main.tf", "stack")["console_cdn"] == "${var.console_cdn}"


def test_cloud_build_uploads_the_console_with_its_cache_headers_after_the_deploy():
    import yaml

    from tests.unit.test_infrastructure import ROOT

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    ids = [step["id"] for step in build["steps"]]
    assert ids.index("deploy") < ids.index("console")
    step = next(s for s in build["steps"] if s["id"] == "console")
    script = " ".join(step["args"])
    assert "/tools/terraform output -raw console_bucket" in script
    assert 'gcloud storage rsync --recursive --delete-unmatched-destination-objects ' \
           '--cache-control="public, max-age=31536000, immutable" vendor "gs://$${bucket}/vendor"' in script
    assert '--cache-control="no-cache"' in script and "--exclude=" in script
    assert "--content-type=" in script  # ES modules need a JavaScript type (.mjs)
    outputs = {k: v for block in _parse(GATEWAY / "outputs.tf")["output"] for k, v in block.items()}
    assert outputs["console_bucket"]["value"] == '${var.console ? google_storage_bucket.console[0].name : ""}'
    for env in ("prod", "dev"):
        root = {k: v for block in _parse(ENVIRONMENTS / env / "outputs.tf")["output"] for k, v in block.items()}
        assert root["console_bucket"]["value"] == "${module.stack.console_bucket}"


# --- TLS, redirect, Cloud Armor ----------------------------------------------------------------------------

def test_tls_with_a_managed_certificate_and_http_only_redirects():
    main = GATEWAY / "main.tf"
    cert = _resources(main, "google_compute_managed_ssl_certificate")["api"]
    assert cert["managed"][0]["domains"] == ["${var.domain}"]
    # A new domain: the new certificate is made and put on the proxy before the old one goes.
    assert cert["lifecycle"][0]["create_before_destroy"] is True and "${substr(sha256(var.domain)" in cert["name"]
    proxy = _resources(main, "google_compute_target_https_proxy")["api"]
    assert proxy["ssl_certificates"] == ["${google_compute_managed_ssl_certificate.api.id}"]
    policy = _resources(main, "google_compute_ssl_policy")["api"]
    assert (policy["profile"], policy["min_tls_version"]) == ("MODERN", "TLS_1_2")
    assert proxy["ssl_policy"] == "${google_compute_ssl_policy.api.id}"
    rules = _resources(main, "google_compute_global_forwarding_rule")
    assert (rules["https"]["port_range"], rules["http"]["port_range"]) == ("443", "80")
    assert rules["https"]["ip_address"] == rules["http"]["ip_address"] == "${google_compute_global_address.api.id}"
    assert rules["https"]["target"] == "${google_compute_target_https_proxy.api.id}"
    assert rules["http"]["target"] == "${google_compute_target_http_proxy.redirect.id}"
    assert {r["load_balancing_scheme"] for r in rules.values()} == {"EXTERNAL_MANAGED"}
    redirect = _resources(main, "google_compute_url_map")["redirect"]
    assert set(redirect) == {"project", "name", "default_url_redirect"}  # no backend at all on port 80
    to_https = redirect["default_url_redirect"][0]
    assert to_https["https_redirect"] is True and to_https["redirect_response_code"] == "MOVED_PERMANENTLY_DEFAULT"
    assert _resources(main, "google_compute_target_http_proxy")["redirect"]["url_map"] == \
        "${google_compute_url_map.redirect.id}"


def test_one_serverless_neg_and_backend_per_public_function():
    main = GATEWAY / "main.tf"
    neg = _resources(main, "google_compute_region_network_endpoint_group")["function"]
    assert neg["for_each"] == "${var.services}" and neg["network_endpoint_type"] == "SERVERLESS"
    # gen2 functions are Cloud Run services: the cloud_run block (cloud_function is for 1st gen).
    assert neg["cloud_run"][0]["service"] == "${each.value}" and "cloud_function" not in neg
    backend = _resources(main, "google_compute_backend_service")["function"]
    assert backend["for_each"] == "${var.services}"
    assert backend["backend"][0]["group"] == "${google_compute_region_network_endpoint_group.function[each.key].id}"
    assert backend["load_balancing_scheme"] == "EXTERNAL_MANAGED"


def test_cloud_armor_is_optional_and_attached_to_every_backend():
    main = GATEWAY / "main.tf"
    policy = _resources(main, "google_compute_security_policy")["api"]
    assert policy["count"] == "${var.cloud_armor ? 1 : 0}"
    backend = _resources(main, "google_compute_backend_service")["function"]
    assert backend["security_policy"] == "${var.cloud_armor ? google_compute_security_policy.api[0].id : null}"
    def expression(rule):
        return rule["match"][0]["expr"][0]["expression"] if "expr" in rule["match"][0] else ""

    rules = policy["rule"]
    assert [r["action"] for r in rules] == ["deny(403)", "deny(403)", "throttle", "allow"]
    canary, waf, throttle, default = rules
    assert expression(canary) == "evaluatePreconfiguredWaf('cve-canary')"  # Log4Shell and other CVE probes
    assert "evaluatePreconfiguredWaf('sqli-v33-stable'" in expression(waf)
    assert "evaluatePreconfiguredWaf('xss-v33-stable'" in expression(waf)
    assert not any(r.get("preview") for r in rules)  # enforced, not only logged
    # The signatures come before the throttle, whose "allow" of a conforming request ends the evaluation.
    assert canary["priority"] < waf["priority"] < throttle["priority"] < default["priority"] == 2147483647
    assert default["match"][0]["config"][0]["src_ip_ranges"] == ["*"]
    limit = throttle["rate_limit_options"][0]
    assert (limit["exceed_action"], limit["enforce_on_key"]) == ("deny(429)", "IP")
    assert limit["rate_limit_threshold"][0]["count"] == "${var.armor_requests_per_minute}"
    stack = _module(STACK, "gateway")
    assert stack["cloud_armor"] == "${var.cloud_armor}"
    assert _variables(ENVIRONMENTS / "prod" / "variables.tf")["cloud_armor"]["default"] is True
    assert _variables(ENVIRONMENTS / "dev" / "variables.tf")["cloud_armor"]["default"] is False


@pytest.mark.parametrize(("path", "exempt"), [
    ("/api/v1/sources/postgres/crm/query", True),  # guarded SQL is the body, by design
    ("/api/v1/sources/postgres/crm/tables/orders", True),  # row writes
    ("/api/v1/datasets/sales", True),  # uploaded files
    ("/upload-datasets", True),
    ("/api/v1/prompts/router", True),  # prompt templates (admin)
    ("/api/v1/queries", False),
    ("/api/v1/queries/job-1/events", False),
    ("/api/v1/sessions/s1/export", False),
    ("/api/v1/datasetsx", False),
    ("/domain/sales/datasets", False),
])
def test_the_waf_signatures_skip_only_the_bodies_that_carry_sql_or_data(path, exempt):
    pattern = _unq(next(block["waf_exempt_paths"] for block in _raw_parse(GATEWAY / "main.tf")["locals"]
                        if "waf_exempt_paths" in block))
    assert "${local.waf_exempt_paths}" in (GATEWAY / "main.tf").read_text()
    # RE2 and Python agree on this pattern (no look-around, no back-references).
    assert bool(re.fullmatch(pattern, path)) is exempt


# --- Ingress, PUBLIC_BASE_URL, CORS, warm instances ---------------------------------------------------------

def test_public_functions_take_traffic_only_through_the_load_balancer_when_there_is_one():
    fn = _resources(FUNCTIONS, "google_cloudfunctions2_function")["function"]
    ingress = fn["service_config"][0]["ingress_settings"]
    assert ingress == ('${each.value.public ? (var.behind_load_balancer ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL") '
                       ': "ALLOW_INTERNAL_ONLY"}')
    # pipeline and ingest: internal only, whatever else is set.
    assert {name for name, f in _functions_config().items() if not f["public"]} == {"pipeline", "ingest"}
    functions = _module(STACK, "functions")
    assert functions["behind_load_balancer"] == '${var.domain != ""}'
    # Behind the load balancer X-Forwarded-For has its shape: 2 trusted hops; URLs are absolute on the domain.
    text = STACK.read_text()
    assert 'PUBLIC_BASE_URL = var.domain == "" ? "" : "https://${var.domain}"' in text
    assert 'TRUSTED_PROXY_HOPS = var.domain == "" ? "1" : "2"' in text
    # The load balancer forwards no identity: a domain without public_http is flagged at plan time.
    check = next(c["load_balancer_needs_public_http"] for c in _parse(STACK)["check"])
    assert check["assert"][0]["condition"] == '${var.domain == "" || var.public_http}'


def test_outputs_give_the_address_for_dns_and_the_base_url():
    outputs = {k: v for block in _parse(MODULES / "stack" / "outputs.tf")["output"] for k, v in block.items()}
    assert outputs["load_balancer_ip"]["value"] == '${var.domain == "" ? null : module.gateway[0].ip_address}'
    assert outputs["base_url"]["value"] == '${var.domain == "" ? null : module.gateway[0].base_url}'
    gateway = {k: v for block in _parse(GATEWAY / "outputs.tf")["output"] for k, v in block.items()}
    assert gateway["ip_address"]["value"] == "${google_compute_global_address.api.address}"
    assert gateway["base_url"]["value"] == "https://${var.domain}"
    for env in ("prod", "dev"):
        root = {k: v for block in _parse(ENVIRONMENTS / env / "outputs.tf")["output"] for k, v in block.items()}
        assert root["load_balancer_ip"]["value"] == "${module.stack.load_balancer_ip}"
        assert root["base_url"]["value"] == "${module.stack.base_url}"


def test_the_bucket_cors_comes_from_cors_origins_and_answers_as_the_local_bucket_does():
    # One list feeds both: the functions' CORS_ORIGINS and the bucket's CORS.
    assert _module(STACK, "storage")["cors_origins"] == "${var.cors_origins}"
    assert 'CORS_ORIGINS          = join(",", var.cors_origins)' in STACK.read_text()
    bucket = _resources(MODULES / "storage" / "main.tf", "google_storage_bucket")["datasets"]
    cors = next(d["cors"] for d in bucket["dynamic"] if "cors" in d)
    assert cors["for_each"] == "${length(var.cors_origins) > 0 ? [var.cors_origins] : []}"
    rule = cors["content"][0]
    assert rule["origin"] == "${cors.value}"
    # The emulator's bucket (bucket_cors_headers) is what a browser meets locally: the cloud bucket must agree.
    local = bucket_cors_headers("https://app.example.com", ("https://app.example.com",))
    assert rule["method"] == [m.strip() for m in local["Access-Control-Allow-Methods"].split(",")]
    assert rule["method"] == ["PUT", "GET", "HEAD", "OPTIONS"]
    allowed = {h.strip() for h in local["Access-Control-Allow-Headers"].split(",")}
    exposed = {h.strip() for h in local["Access-Control-Expose-Headers"].split(",")}
    assert set(rule["response_header"]) == allowed | exposed  # GCS uses the one list for both
    assert "Content-Type" in allowed  # the header a V4 signed upload is signed with
    assert rule["max_age_seconds"] == "${var.cors_max_age_seconds}"
    max_age = _variables(MODULES / "storage" / "variables.tf")["cors_max_age_seconds"]["default"]
    assert str(max_age) == local["Access-Control-Max-Age"]


def test_queries_and_pipeline_stay_warm_in_prod_only():
    fn = _resources(FUNCTIONS, "google_cloudfunctions2_function")["function"]
    assert fn["service_config"][0]["min_instance_count"] == "${lookup(var.min_instances, each.key, 0)}"
    functions = _module(STACK, "functions")
    assert functions["min_instances"] == {"queries": "${var.min_instances_queries}",
                                          "pipeline": "${var.min_instances_pipeline}"}
    stack = _variables(MODULES / "stack" / "variables.tf")
    for name in ("min_instances_queries", "min_instances_pipeline"):
        assert stack[name]["default"] == 0 and stack[name]["validation"]
    for env, warm in (("prod", 1), ("dev", 0)):
        declared = _variables(ENVIRONMENTS / env / "variables.tf")
        assert declared["min_instances_queries"]["default"] == declared["min_instances_pipeline"]["default"] == warm
        call = _module(ENVIRONMENTS / env / "main.tf", "stack")
        assert call["min_instances_queries"] == "${var.min_instances_queries}"
        assert call["min_instances_pipeline"] == "${var.min_instances_pipeline}"
    # Startup CPU boost has no field in google_cloudfunctions2_function's service_config (the Cloud Functions v2
    # API does not expose it): the function resource does not pretend to set it; cpu_boost.tf applies it to the
    # Cloud Run service after each deploy of the function (tests/unit/test_terraform_latency.py).
    text = FUNCTIONS.read_text()
    assert "cpu_boost =" not in text and "local-exec" not in text
