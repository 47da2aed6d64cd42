# The web console (console/ in the repository): static files in a bucket behind the same load balancer, so the
# page and the API share one origin (no CORS, connect-src 'self'). The URL map's default, in main.tf, is this
# bucket while every /api/v1/* path stays with the functions. Cloud Build uploads the files (cloudbuild.yaml, step
# console) with their Cache-Control: the page and its modules revalidate (no-cache), the vendored libraries sit in
# versioned folders and are cached for a year (immutable).

locals {
  # local_emulator/console.py's CONTENT_SECURITY_POLICY, plus the storage host the signed upload URLs point at (a
  # browser PUTs large files straight to the datasets bucket); tests/unit/test_terraform_gateway.py holds the two
  # together. No 'unsafe-eval': charts are drawn with vega-embed's expression interpreter (ast: true).
  console_csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self' https://storage.googleapis.com; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

resource "google_storage_bucket" "console" {
  count = var.console ? 1 : 0

  project                     = var.project_id
  name                        = "${var.name_prefix}-console-${var.project_id}"
  location                    = upper(var.region) # beside the functions; Cloud CDN (console_cdn) serves it worldwide
  uniform_bucket_level_access = true
  # Its objects are public on purpose (below); the datasets bucket keeps public access prevention enforced.
  public_access_prevention = "inherited"
  # Only built files from the repository live here: every build uploads them again.
  force_destroy = true

  website {
    main_page_suffix = "index.html"
  }

  versioning {
    enabled = false
  }
}

# Public read of this bucket's objects (not of its listing, nor of any other bucket): a browser loads the page,
# its modules and the vendored libraries before anyone signs in. Nothing here is secret.
resource "google_storage_bucket_iam_member" "console_public" {
  count = var.console ? 1 : 0

  bucket = google_storage_bucket.console[0].name
  # objectViewer for allUsers: anonymous GET of objects, the console's files only.
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

resource "google_compute_backend_bucket" "console" {
  count = var.console ? 1 : 0

  project     = var.project_id
  name        = "${var.name_prefix}-console"
  description = "The web console's static files"
  bucket_name = google_storage_bucket.console[0].name
  enable_cdn  = var.console_cdn

  # The same security headers the emulator sends with the console (local_emulator/console.py).
  custom_response_headers = [
    "Content-Security-Policy: ${local.console_csp}",
    "X-Content-Type-Options: nosniff",
    "X-Frame-Options: DENY",
    "Referrer-Policy: no-referrer",
    "Permissions-Policy: camera=(), microphone=(), geolocation=()",
  ]

  dynamic "cdn_policy" {
    for_each = var.console_cdn ? [1] : []
    content {
      # The objects' own Cache-Control decides: no-cache for the page and modules, a year for vendor/.
      cache_mode        = "USE_ORIGIN_HEADERS"
      negative_caching  = false
      serve_while_stale = 0
    }
  }
}
