# The whole deployment: wires the concern modules together. Each environments/<env> root calls this once
# with its own values, so dev and prod cannot drift apart in their wiring.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Plain settings of every function; keys are EXACTLY setting names of convoinsight.settings.SETTINGS
  # (tests/unit/test_infrastructure.py checks). TASKS_TARGET_URL is added by the functions module.
  base_environment = {
    DEPLOYMENT_MODE       = "cloud"
    AUTH_MODE             = var.auth_mode
    FIREBASE_PROJECT_ID   = var.firebase_project_id
    GCP_PROJECT_ID        = var.project_id
    GCS_BUCKET            = module.storage.bucket_name
    REDIS_URL             = module.redis.redis_url
    TASKS_LOCATION        = module.tasks.location
    TASKS_QUEUE           = module.tasks.queue_name
    TASKS_SERVICE_ACCOUNT = module.tasks.invoker_email
    LLM_MODEL             = var.llm_model
    LLM_API_BASE          = var.llm_api_base
    CORS_ORIGINS          = join(",", var.cors_origins)
    # Every URL the API returns is absolute on the load balancer's origin.
    PUBLIC_BASE_URL = var.domain == "" ? "" : "https://${var.domain}"
    # Google's front end appends the caller's address to X-Forwarded-For: one trusted hop (the client writes
    # whatever stands left of it). The load balancer (with a domain) appends "<client>,<its own address>": 2.
    TRUSTED_PROXY_HOPS = var.domain == "" ? "1" : "2"
    # The zip puts prompts/ beside main.py; Cloud Functions unpacks the source into /workspace.
    PROMPTS_DIR = "/workspace/prompts"
    LOG_LEVEL   = var.log_level
  }
  function_environment = merge(local.base_environment, var.extra_environment)

  apis = [
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudtasks.googleapis.com",
    "compute.googleapis.com", # the load balancer (gateway module)
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",    # log-based metrics (monitoring module)
    "monitoring.googleapis.com", # alert policies and the notification channel
    "pubsub.googleapis.com",
    "redis.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ]
}

resource "google_project_service" "api" {
  for_each = toset(local.apis)

  project            = var.project_id
  service            = each.key
  disable_on_destroy = false
}

module "storage" {
  source = "../storage"

  project_id        = var.project_id
  region            = var.region
  bucket_name       = var.datasets_bucket
  cors_origins      = var.cors_origins
  incoming_prefixes = var.incoming_prefixes
  force_destroy     = var.force_destroy

  depends_on = [google_project_service.api]
}

module "firestore" {
  source = "../firestore"

  project_id          = var.project_id
  location            = var.firestore_location
  deletion_protection = var.deletion_protection

  depends_on = [google_project_service.api]
}

module "redis" {
  source = "../redis"

  project_id     = var.project_id
  region         = var.region
  name_prefix    = var.name_prefix
  memory_size_gb = var.redis_memory_size_gb
  connector_cidr = var.connector_cidr

  depends_on = [google_project_service.api]
}

module "tasks" {
  source = "../tasks"

  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix

  depends_on = [google_project_service.api]
}

module "secrets" {
  source = "../secrets"

  project_id   = var.project_id
  name_prefix  = var.name_prefix
  secret_names = setunion(var.secret_settings, var.provider_key_secrets)

  depends_on = [google_project_service.api]
}

module "functions" {
  source = "../functions"

  project_id         = var.project_id
  project_number     = data.google_project.this.number
  region             = var.region
  name_prefix        = var.name_prefix
  source_bucket      = var.source_bucket
  source_version     = var.source_version
  environment        = local.function_environment
  secret_environment = module.secrets.secret_ids
  datasets_bucket    = module.storage.bucket_name
  vpc_connector      = module.redis.vpc_connector
  public_http        = var.public_http
  # Behind the load balancer the public functions take no traffic on their own URLs (ingress).
  behind_load_balancer = var.domain != ""
  max_instances        = var.max_instances
  min_instances        = { queries = var.min_instances_queries, pipeline = var.min_instances_pipeline }
  # Startup CPU boost on the Cloud Run services of queries and pipeline when startup_cpu_boost (latency.tf).
  cpu_boost_functions = local.cpu_boost_functions

  depends_on = [google_project_service.api]
}

# The one origin (HTTPS, /api/v1/<function>/*): only with a domain for its managed certificate.
module "gateway" {
  source = "../gateway"
  count  = var.domain == "" ? 0 : 1

  project_id  = var.project_id
  region      = var.region
  name_prefix = var.name_prefix
  domain      = var.domain
  services    = module.functions.public_service_names
  cloud_armor = var.cloud_armor
  console_cdn = var.console_cdn
  # convoinsight.web.gateway.EXTRA_ROUTES (tests/unit/test_terraform_gateway.py holds the two together).
  extra_routes = {
    "/api/v1/openapi.json" = "health"
    "/api/v1/metrics"      = "health"
    "/api/v1/storage"      = "charts"
    "/upload-datasets"     = "datasets"
    "/list-domains"        = "datasets"
    "/domain"              = "datasets"
  }

  depends_on = [google_project_service.api]
}

# The load balancer forwards no identity: Cloud Run lets its requests in only with run.invoker for allUsers
# (public_http). A plan with a domain and public_http = false would answer every request with 403.
check "load_balancer_needs_public_http" {
  assert {
    condition     = var.domain == "" || var.public_http
    error_message = "domain is set but public_http is false: the load balancer's requests will be refused (403) by Cloud Run IAM."
  }
}

module "monitoring" {
  source = "../monitoring"

  project_id           = var.project_id
  name_prefix          = var.name_prefix
  services             = values(module.functions.names)
  alert_email          = var.alert_email
  error_rate_threshold = var.error_rate_threshold
  p95_latency_ms       = var.p95_latency_ms

  depends_on = [google_project_service.api]
}

module "iam" {
  source = "../iam"

  project_id                = var.project_id
  region                    = var.region
  function_service_accounts = module.functions.service_accounts
  function_services         = module.functions.service_names
  bucket_name               = module.storage.bucket_name
  tasks_invoker_id          = module.tasks.invoker_id
  tasks_invoker_email       = module.tasks.invoker_email
  secret_ids                = module.secrets.secret_resource_ids
  secret_consumers          = module.functions.secret_consumers
}
