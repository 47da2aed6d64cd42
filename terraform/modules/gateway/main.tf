# One origin for the whole API: a global external Application Load Balancer in front of the public functions.
#
# Each public function (a Cloud Functions gen2 function is a Cloud Run service) gets a serverless NEG and a
# backend service; the URL map routes /api/v1/<function> and /api/v1/<function>/* to it, plus the paths in
# var.extra_routes (the combined OpenAPI document, metrics, the original API's routes). Paths are not
# rewritten: a function matches its routes on the part after /api/v1/<name> (FunctionApp.inner_path).
# The table is shared/convoinsight/web/gateway.py; tests/unit/test_terraform_gateway.py holds this to it.

locals {
  # path => function: every public function's prefix, then the extra routes.
  function_paths = merge(
    { for name, _ in var.services : "/api/v1/${name}" => name },
    { for name, _ in var.services : "/api/v1/${name}/*" => name },
  )
  extra_paths = merge(
    { for path, name in var.extra_routes : path => name if contains(keys(var.services), name) },
    { for path, name in var.extra_routes : "${path}/*" => name if contains(keys(var.services), name) },
  )
  routes = merge(local.function_paths, local.extra_paths)
}

resource "google_compute_global_address" "api" {
  project = var.project_id
  name    = "${var.name_prefix}-api"
}

resource "google_compute_region_network_endpoint_group" "function" {
  for_each = var.services

  project               = var.project_id
  region                = var.region
  name                  = "${var.name_prefix}-${each.key}-neg"
  network_endpoint_type = "SERVERLESS"
  # A gen2 function is served by the Cloud Run service of the same name: the NEG points at that service
  # (the cloud_function block is for 1st-gen functions).
  cloud_run {
    service = each.value
  }
}

resource "google_compute_security_policy" "api" {
  count = var.cloud_armor ? 1 : 0

  project = var.project_id
  name    = "${var.name_prefix}-api"

  rule {
    action   = "deny(403)"
    priority = 1000
    match {
      expr {
        expression = "evaluatePreconfiguredWaf('sqli-v33-stable', {'sensitivity': 1}) || evaluatePreconfiguredWaf('xss-v33-stable', {'sensitivity': 1})"
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

resource "google_compute_url_map" "api" {
  project         = var.project_id
  name            = "${var.name_prefix}-api"
  default_service = google_compute_backend_service.function["health"].id

  host_rule {
    hosts        = [var.domain]
    path_matcher = "api"
  }

  path_matcher {
    name            = "api"
    default_service = google_compute_backend_service.function["health"].id

    dynamic "path_rule" {
      for_each = var.services
      content {
        paths   = sort([for path, name in local.routes : path if name == path_rule.key])
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
  }
}

resource "google_compute_managed_ssl_certificate" "api" {
  project = var.project_id
  name    = "${var.name_prefix}-api"

  managed {
    domains = [var.domain]
  }
}

resource "google_compute_target_https_proxy" "api" {
  project          = var.project_id
  name             = "${var.name_prefix}-api"
  url_map          = google_compute_url_map.api.id
  ssl_certificates = [google_compute_managed_ssl_certificate.api.id]
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
