# The datasets bucket: datasets, signed uploads and chart images, every path under tenants/<uid>/.

resource "google_storage_bucket" "datasets" {
  #checkov:skip=CKV_GCP_78:versioning off on purpose: dataset versions are explicit objects; it would keep deleted tenant data
  #checkov:skip=CKV_GCP_62:access is audited with Cloud Audit Logs (data access), not legacy bucket access logs
  project                     = var.project_id
  name                        = var.bucket_name
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  # Dataset versions are explicit objects (…/v<N>/); object versioning would only keep deleted tenant data.
  versioning {
    enabled = false
  }

  # Signed uploads land in incoming/<uid>/<upload>/<file> (convoinsight.datasets.paths.incoming); ingest moves
  # each registered one under its tenant, and those never claimed (abandoned, refused) must not linger. GCS
  # lifecycle conditions match literal name prefixes only, so the uploads share one literal prefix; prefixes under
  # tenants/ are refused by validation, since such a rule would delete datasets.
  dynamic "lifecycle_rule" {
    for_each = length(var.incoming_prefixes) > 0 ? [var.incoming_prefixes] : []
    content {
      condition {
        age            = var.incoming_max_age_days
        matches_prefix = lifecycle_rule.value
        with_state     = "ANY"
      }
      action {
        type = "Delete"
      }
    }
  }

  # Multipart or resumable uploads that never completed.
  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  # Browsers PUT files to V4 signed upload URLs and fetch signed downloads (chart images) from
  # the origins in cors_origins, the same list the stack writes into the functions' CORS_ORIGINS. The local
  # emulator's bucket answers preflights alike (convoinsight.web.responses.bucket_cors_headers; a test holds the
  # two together). response_header is both what a preflight may ask to send (the signed Content-Type) and what a
  # page may read back.
  dynamic "cors" {
    for_each = length(var.cors_origins) > 0 ? [var.cors_origins] : []
    content {
      origin          = cors.value
      method          = ["PUT", "GET", "HEAD", "OPTIONS"]
      response_header = ["Content-Type", "Content-Length", "ETag"]
      max_age_seconds = var.cors_max_age_seconds
    }
  }
}
