# Dev: the same stack, smaller and disposable; reachable only with IAM unless public_http.
# Thin root: everything lives in ../../modules/stack (validation included); only the values differ by environment.

module "stack" {
  source = "../../modules/stack"

  project_id          = var.project_id
  region              = var.region
  firestore_location  = var.firestore_location
  datasets_bucket     = var.datasets_bucket
  source_bucket       = var.source_bucket
  source_version      = var.source_version
  auth_mode           = var.auth_mode
  firebase_project_id = var.firebase_project_id
  cors_origins        = var.cors_origins
  llm_model           = var.llm_model
  llm_api_base        = var.llm_api_base
  extra_environment   = var.extra_environment
  name_prefix         = var.name_prefix
  public_http         = var.public_http
  max_instances       = var.max_instances
  domain              = var.domain
  cloud_armor         = var.cloud_armor
  console_cdn         = var.console_cdn
  alert_email         = var.alert_email

  provider_key_secrets = var.provider_key_secrets
  error_rate_threshold = var.error_rate_threshold
  p95_latency_ms       = var.p95_latency_ms

  min_instances_queries  = var.min_instances_queries
  min_instances_pipeline = var.min_instances_pipeline
  startup_cpu_boost      = var.startup_cpu_boost

  log_level           = "DEBUG"
  deletion_protection = false
  force_destroy       = true
}
