# One origin for the whole API: a global external Application Load Balancer in front of the public functions.
#
# Each public function gets a serverless NEG and a backend service; the URL map routes /api/v1/<function> and
# /api/v1/<function>/* to it, plus the paths in var.extra_routes (the combined OpenAPI document, metrics, the
# original API's routes). Paths are not rewritten: a function matches its routes on the part after
# /api/v1/<name> (FunctionApp.inner_path). The table itself is routes.tf; its source of truth is
# shared/convoinsight/web/gateway.py, and tests/unit/test_terraform_gateway.py holds the two together.

resource "google_compute_global_address" "api" {
  project      = var.project_id
  name         = "${var.name_prefix}-api"
  address_type = "EXTERNAL"
  ip_version   = "IPV4"
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = var.services

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-${each.key}-neg"
  network_endpoint_type = "SERVERLESS"
  # A gen2 function IS a Cloud Run service (service_config.service, named like the function), and serverless
  # NEGs reach gen2 functions through their Cloud Run service: the cloud_run block. The cloud_function block
  # addresses 1st-gen functions only.
  cloud_run {
    service = each.value
  }
}

locals {
  # RE2, matched against the whole path by Cloud Armor's request.path.matches().
  waf_exempt_paths = "^/(api/v1/(sources|datasets|prompts)(/.*)?|upload-datasets(/.*)?)$"
}

resource "google_compute_security_policy" "api" {
  count = var.cloud_armor ? 1 : 0

  project = var.project_id
  name    = "${var.name_prefix}-api"

  # The WAF signatures run first: a throttle rule that lets a request through ends the evaluation.
  # Known exploit probes (Log4Shell's ${jndi:...} and the other CVE signatures) never belong in any request.
  rule {
    action   = "deny(403)"
    priority = 900
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('cve-canary')"
      }
    }
    description = "CVE signatures (cve-canary: Log4j lookups and others), everywhere"
  }

  rule {
    action   = "deny(403)"
    priority = 1000
    match {
      expr {
        # Not on the functions whose bodies carry SQL or user data by design (guarded SQL and table writes in
        # sources, uploaded files in datasets and /upload-datasets, prompt templates in prompts): signatures would
        # refuse legitimate requests there, and those bodies are parsed by allow-lists, never interpolated.
        expression = "!request.path.matches('${local.waf_exempt_paths}') && (evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1}) || evaluatePreconfiguredWaf('xss-v33-stable', {'sensitivity': 1}))"
      }
    }
    description = "OWASP SQL injection and XSS signatures (questions are text: sensitivity 1 keeps false positives low)"
  }

  rule {
    action   = "throttle"
    priority = 2000
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    rate_limit_options {
      conform_action = "allow"
      exceed_action  = "deny(429)"
      enforce_on_key = "IP"
      rate_limit_threshold {
        count        = var.armor_requests_per_minute
        interval_sec = 60
      }
    }
    description = "Per-address ceiling in front of the app's own per-user limits"
  }

  rule {
    action   = "allow"
    priority = 2147483647
    match {
      versioned_expr = "SRC_IPS_V1"
      config {
        src_ip_ranges = ["*"]
      }
    }
    description = "default"
  }
}

resource "google_compute_backend_service" "function" {
  for_each = var.services

  project               = var.project_id
  name                  = "${var.name_prefix}-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  protocol              = "HTTPS"
  security_policy       = var.cloud_armor ? google_compute_security_policy.api[0].id : null

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  log_config {
    enable      = true
    sample_rate = var.log_sample_rate
  }
}

locals {
  health_backend = google_compute_backend_service.function["health"].id
  # The domain's default: the console bucket (console.tf) when there is one, else health.
  site_backend = var.console ? google_compute_backend_bucket.console[0].id : local.health_backend
}

resource "google_compute_url_map" "api" {
  project = var.project_id
  name    = "${var.name_prefix}-api"
  # Another host goes to health, which answers the API's JSON 404 (route_not_found).
  default_service = local.health_backend

  host_rule {
    hosts        = [var.domain]
    path_matcher = "api"
  }

  path_matcher {
    name = "api"
    # The web console's files take / and every path no route claims (as the emulator serves them at /); without
    # the console, health answers there (its root-level /, /live, /ready, and the JSON 404 for the rest).
    default_service = local.site_backend

    dynamic "path_rule" {
      for_each = local.paths_by_function
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }

    # With the console, an /api/v1/ path no function claims (/api/v1/pipeline/..., a typo) still gets the API's
    # JSON 404 from health, never a bucket's page: path rules match the longest path, so every function's own
    # /api/v1/<name>/* wins over this one.
    dynamic "path_rule" {
      for_each = var.console ? [local.unclaimed_api_paths] : []
      content {
        paths   = path_rule.value
        service = local.health_backend
      }
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.routes) == local.route_count
      error_message = "Two routes claim the same path (a function named like an extra route?): see routes.tf."
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  # A new domain means a new certificate: named after the domain so that the new one is made (and put on the
  # proxy) before the old one, which is still in use until then, is deleted.
  name = "${var.name_prefix}-api-${substr(sha256(var.domain), 0, 8)}"

  managed {
    domains = [var.domain]
  }

  lifecycle {
    create_before_destroy = true
  }
}

# TLS 1.2 or newer with the MODERN cipher profile: every current browser and HTTP client speaks it.
resource "google_compute_ssl_policy" "api" {
  project         = var.project_id
  name            = "${var.name_prefix}-api"
  profile         = "MODERN"
  min_tls_version = "TLS_1_2"
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "${var.name_prefix}-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
  ssl_policy       = google_compute_ssl_policy.api.id
}

resource "google_compute_global_forwarding_rule" "https" {
  project               = var.project_id
  name                  = "${var.name_prefix}-api-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "443"
  target                = google_compute_target_https_proxy.api.id
}

# Plain HTTP only ever answers a redirect to HTTPS: credentials and apiKey never travel in clear.
resource "google_compute_url_map" "redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-api-redirect"

  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

resource "google_compute_target_http_proxy" "redirect" {
  project = var.project_id
  name    = "${var.name_prefix}-api-redirect"
  url_map = google_compute_url_map.redirect.id
}

resource "google_compute_global_forwarding_rule" "http" {
  project               = var.project_id
  name                  = "${var.name_prefix}-api-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_address            = google_compute_global_address.api.id
  port_range            = "80"
  target                = google_compute_target_http_proxy.redirect.id
}
