# One Cloud Function (gen2) per folder of functions/, each running as its own service account.
# tests/unit/test_infrastructure.py asserts that the keys of local.functions equal those folders.

locals {
  # public: reachable from the internet (the app authenticates: AUTH_MODE=firebase or apikey).
  # secrets: gets the secret environment (model keys); only functions that call models.
  functions = {
    auth = { public = true, timeout = 60, memory = "512Mi", secrets = false, event = false }
    # charts: its render worker may commit CHART_RENDER_MEMORY_MB (1024 by default) beside the serving process.
    charts   = { public = true, timeout = 60, memory = "2Gi", secrets = false, event = false }
    datasets = { public = true, timeout = 300, memory = "2Gi", secrets = false, event = false }
    health   = { public = true, timeout = 30, memory = "512Mi", secrets = false, event = false }
    ingest   = { public = false, timeout = 540, memory = "4Gi", secrets = false, event = true }
    # Cloud Tasks waits TASKS_DISPATCH_DEADLINE_SECONDS (600 s by default) for a stage: the function's
    # timeout must be at least that, or a slow stage is cut off and sent again while still running.
    pipeline = { public = false, timeout = 600, memory = "2Gi", secrets = true, event = false }
    prompts  = { public = true, timeout = 60, memory = "512Mi", secrets = true, event = false }
    queries  = { public = true, timeout = 300, memory = "2Gi", secrets = true, event = false }
    # sources: decrypts stored database passwords (FERNET_KEY is a secret setting); its PostgreSQL workers may
    # commit SOURCE_WORKER_MEMORY_MB each beside the serving process.
    sources = { public = true, timeout = 300, memory = "2Gi", secrets = true, event = false }
    # llm: stores users' model keys encrypted (FERNET_KEY is a secret setting) and checks them with one call.
    llm = { public = true, timeout = 60, memory = "1Gi", secrets = true, event = false }
    # sessions: a PDF export draws charts in a render worker (CHART_RENDER_MEMORY_MB) and lays out pages for
    # up to EXPORT_TIME_LIMIT_SECONDS (30 by default).
    sessions = { public = true, timeout = 120, memory = "2Gi", secrets = false, event = false }
    # mcp: MCP over Streamable HTTP, an HTTP client of the public API (PUBLIC_BASE_URL, or MCP_API_BASE_URL) with
    # its caller's own key: no store, no secret, no role of its own. It waits up to MCP_API_TIMEOUT_SECONDS (120 by
    # default) for one answer (a question answered in full): the timeout leaves room for that.
    mcp = { public = true, timeout = 180, memory = "512Mi", secrets = false, event = false }
  }

  # Cloud Run's deterministic URL of the pipeline function. Computed rather than read from the resource so
  # that the pipeline function itself (which enqueues the next stage) can carry it without a cycle.
  pipeline_url = "https://${var.name_prefix}-pipeline-${var.project_number}.${var.region}.run.app"

  # Settings this module owns; merged over var.environment. Keys are setting names.
  module_environment = {
    TASKS_TARGET_URL = local.pipeline_url
  }

  # Boosted function => its Cloud Run service (the last path segment, should the provider give the full
  # projects/<p>/locations/<r>/services/<name>) and the time of its last deploy: terraform_data.cpu_boost
  # (cpu_boost.tf) is replaced, and the boost applied again, whenever either changes. Names this module does
  # not deploy are left out here and refused by that resource's precondition.
  cpu_boost_targets = {
    for name in var.cpu_boost_functions : name => {
      service     = reverse(split("/", google_cloudfunctions2_function.function[name].service_config[0].service))[0]
      update_time = google_cloudfunctions2_function.function[name].update_time
    } if contains(keys(local.functions), name)
  }
}

resource "google_service_account" "function" {
  for_each = local.functions

  project      = var.project_id
  account_id   = "${var.name_prefix}-fn-${each.key}"
  display_name = "ConvoInsight function ${each.key}"
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:the public HTTP API takes traffic from anywhere; private functions are internal-only
  for_each = local.functions

  project  = var.project_id
  location = var.region
  name     = "${var.name_prefix}-${each.key}"

  build_config {
    runtime     = "python311"
    entry_point = each.key
    source {
      storage_source {
        bucket = var.source_bucket
        object = "functions/${var.source_version}/${each.key}.zip"
      }
    }
  }

  service_config {
    service_account_email            = google_service_account.function[each.key].email
    timeout_seconds                  = each.value.timeout
    available_memory                 = each.value.memory
    available_cpu                    = "1"
    max_instance_request_concurrency = each.value.event ? 1 : 8
    max_instance_count               = var.max_instances
    # Warm instances where a cold start is felt (queries and pipeline; 1 each in prod): var.min_instances.
    # Startup CPU boost (Cloud Run's startup_cpu_boost) has no field in the Cloud Functions v2 API, so
    # google_cloudfunctions2_function cannot set it. It is set on the function's Cloud Run service instead,
    # by terraform_data.cpu_boost (cpu_boost.tf: gcloud run services update --cpu-boost through
    # ../../scripts/cpu-boost.sh) for the functions in var.cpu_boost_functions, again after every deploy of
    # the function, which rewrites the service and may drop it. The cold start itself is kept short in the
    # code (lazy clients, litellm imported only where a model is called; tests/unit/test_cold_start.py).
    min_instance_count             = lookup(var.min_instances, each.key, 0)
    all_traffic_on_latest_revision = true
    # Public functions: behind the load balancer (a domain is set) only the load balancer (one origin, TLS,
    # Cloud Armor) and the project's own network reach them, so X-Forwarded-For always has the load balancer's
    # shape (TRUSTED_PROXY_HOPS=2). Without a domain their own URLs are the way in: ALLOW_ALL (the app
    # authenticates every request). pipeline and ingest are called only by Cloud Tasks and Eventarc of this
    # project, which Cloud Run counts as internal traffic; run.invoker (iam module) decides who may call them.
    ingress_settings              = each.value.public ? (var.behind_load_balancer ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL") : "ALLOW_INTERNAL_ONLY"
    vpc_connector                 = var.vpc_connector
    vpc_connector_egress_settings = "PRIVATE_RANGES_ONLY"
    environment_variables         = merge(var.environment, local.module_environment)

    dynamic "secret_environment_variables" {
      for_each = each.value.secrets ? var.secret_environment : {}
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.event ? [var.datasets_bucket] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.function[each.key].email
      event_filters {
        attribute = "bucket"
        value     = event_trigger.value
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for name, f in local.functions : name => f if f.public && var.public_http }

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  # Anyone may reach the public HTTP functions: authentication is done by the app itself (AUTH_MODE=firebase
  # verifies Firebase ID tokens, AUTH_MODE=apikey checks keys issued by `auth`), not by Cloud Run IAM.
  # The pipeline and ingest functions are never listed here.
  role   = "roles/run.invoker"
  member = "allUsers"
}
