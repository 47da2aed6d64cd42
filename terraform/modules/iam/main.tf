# Every role of every service account, each with the reason it is needed. One service account per function
# (created by the functions module), plus the Cloud Tasks invoker (created by the tasks module).

locals {
  sa = var.function_service_accounts

  # Roles on the datasets bucket only (never project-wide storage roles).
  bucket_roles = {
    sources_objects = {
      member = local.sa["sources"]
      # sources: reads a dataset's Parquet to create or fill a PostgreSQL table from it; never writes.
      role = "roles/storage.objectViewer"
    }
    sessions_objects = {
      member = local.sa["sessions"]
      # sessions: an export reads (and caches) chart images; deleting a session deletes its charts' images.
      role = "roles/storage.objectAdmin"
    }
    charts_objects = {
      member = local.sa["charts"]
      # charts: writes rendered PNG/SVG images, reads and deletes them.
      role = "roles/storage.objectAdmin"
    }
    datasets_objects = {
      member = local.sa["datasets"]
      # datasets: writes uploaded datasets, reads them for previews and downloads, deletes datasets and domains.
      role = "roles/storage.objectAdmin"
    }
    health_objects = {
      member = local.sa["health"]
      # health: /ready lists one prefix of the bucket to prove it is reachable; read-only.
      role = "roles/storage.objectViewer"
    }
    ingest_objects = {
      member = local.sa["ingest"]
      # ingest: reads a finalized signed upload, writes the registered dataset, deletes the incoming object.
      role = "roles/storage.objectAdmin"
    }
    pipeline_objects = {
      member = local.sa["pipeline"]
      # pipeline: stages read the tenant's datasets (SQL context) and write chart images.
      role = "roles/storage.objectAdmin"
    }
    queries_objects = {
      member = local.sa["queries"]
      # queries: sync answers run the whole pipeline in-process: same needs as the pipeline function.
      role = "roles/storage.objectAdmin"
    }
  }

  # Project-level roles, where no narrower resource exists.
  project_roles = {
    auth_datastore = {
      member = local.sa["auth"]
      # auth: stores and checks API key records in Firestore.
      role = "roles/datastore.user"
    }
    charts_datastore = {
      member = local.sa["charts"]
      # charts: reads and deletes chart records in Firestore.
      role = "roles/datastore.user"
    }
    datasets_datastore = {
      member = local.sa["datasets"]
      # datasets: dataset, domain and upload records live in Firestore.
      role = "roles/datastore.user"
    }
    health_datastore = {
      member = local.sa["health"]
      # health: /ready reads one document to prove Firestore is reachable; read-only.
      role = "roles/datastore.viewer"
    }
    ingest_datastore = {
      member = local.sa["ingest"]
      # ingest: claims the upload (idempotent on redelivery) and registers the dataset record.
      role = "roles/datastore.user"
    }
    ingest_eventarc = {
      member = local.sa["ingest"]
      # ingest: the Eventarc trigger runs as this account, which must be allowed to receive events.
      role = "roles/eventarc.eventReceiver"
    }
    pipeline_datastore = {
      member = local.sa["pipeline"]
      # pipeline: reads and advances job state, sessions and messages.
      role = "roles/datastore.user"
    }
    pipeline_enqueuer = {
      member = local.sa["pipeline"]
      # pipeline: each stage enqueues the next one on the Cloud Tasks queue.
      role = "roles/cloudtasks.enqueuer"
    }
    prompts_datastore = {
      member = local.sa["prompts"]
      # prompts: versioned prompt overrides are Firestore documents.
      role = "roles/datastore.user"
    }
    queries_datastore = {
      member = local.sa["queries"]
      # queries: creates jobs, sessions and messages, reads job status.
      role = "roles/datastore.user"
    }
    sources_datastore = {
      member = local.sa["sources"]
      # sources: connections (passwords encrypted), links into domains, audit records are Firestore documents.
      role = "roles/datastore.user"
    }
    llm_datastore = {
      member = local.sa["llm"]
      # llm: users' model keys (encrypted) and audit records are Firestore documents.
      role = "roles/datastore.user"
    }
    sessions_datastore = {
      member = local.sa["sessions"]
      # sessions: reads sessions, messages and charts; renames; deletes a session with its messages, charts and
      # jobs; writes audit records.
      role = "roles/datastore.user"
    }
    queries_enqueuer = {
      member = local.sa["queries"]
      # queries: an async question enqueues its first stage on the Cloud Tasks queue.
      role = "roles/cloudtasks.enqueuer"
    }
  }

  # Functions that create tasks carrying the invoker's OIDC token must be allowed to act as that account.
  invoker_users = {
    # queries: enqueues the first stage with an OIDC token of the invoker account (TASKS_SERVICE_ACCOUNT).
    queries = local.sa["queries"]
    # pipeline: enqueues every following stage the same way.
    pipeline = local.sa["pipeline"]
  }

  # Functions that sign URLs through IAM (there is no private key on Cloud Functions): signBlob as themselves.
  self_signers = ["charts", "datasets"]

  secret_grants = { for pair in setproduct(var.secret_consumers, keys(var.secret_ids)) :
    "${pair[0]}_${pair[1]}" => { member = local.sa[pair[0]], secret = var.secret_ids[pair[1]] }
  }
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = local.bucket_roles

  bucket = var.bucket_name
  # The reason is next to each entry of local.bucket_roles.
  role   = each.value.role
  member = "serviceAccount:${each.value.member}"
}

resource "google_project_iam_member" "function" {
  for_each = local.project_roles

  project = var.project_id
  # The reason is next to each entry of local.project_roles.
  role   = each.value.role
  member = "serviceAccount:${each.value.member}"
}

resource "google_service_account_iam_member" "tasks_invoker_user" {
  for_each = local.invoker_users

  service_account_id = var.tasks_invoker_id
  # Creating a task with an OIDC token of another account needs actAs (iam.serviceAccounts.actAs) on it.
  role   = "roles/iam.serviceAccountUser"
  member = "serviceAccount:${each.value}"
}

resource "google_service_account_iam_member" "self_signer" {
  for_each = toset(local.self_signers)

  service_account_id = "projects/${var.project_id}/serviceAccounts/${local.sa[each.key]}"
  # datasets (signed upload URLs) and charts (signed image URLs) sign through the IAM signBlob API as their
  # own account, which needs Token Creator on ITSELF, not on the project.
  role   = "roles/iam.serviceAccountTokenCreator"
  member = "serviceAccount:${local.sa[each.key]}"
}

resource "google_cloud_run_v2_service_iam_member" "tasks_invokes_pipeline" {
  project  = var.project_id
  location = var.region
  name     = var.function_services["pipeline"]
  # Cloud Tasks calls the private pipeline function with the invoker's OIDC token: the only caller allowed.
  role   = "roles/run.invoker"
  member = "serviceAccount:${var.tasks_invoker_email}"
}

resource "google_cloud_run_v2_service_iam_member" "eventarc_invokes_ingest" {
  project  = var.project_id
  location = var.region
  name     = var.function_services["ingest"]
  # The Eventarc trigger delivers object-finalized events to the private ingest function as the ingest account.
  role   = "roles/run.invoker"
  member = "serviceAccount:${local.sa["ingest"]}"
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  # Storage triggers go through Pub/Sub: the project's Cloud Storage service agent must publish the events.
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_secret_manager_secret_iam_member" "function" {
  for_each = local.secret_grants

  secret_id = each.value.secret
  # Functions that call models read LLM_API_KEY (and any other secret setting) as secret environment variables.
  role   = "roles/secretmanager.secretAccessor"
  member = "serviceAccount:${each.value.member}"
}
