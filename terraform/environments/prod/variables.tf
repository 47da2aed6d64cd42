variable "project_id" {
  description = "Google Cloud project to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions, bucket, queue, Redis and connector."
  type        = string
  default     = "europe-west1"
}

variable "firestore_location" {
  description = "Firestore location (a region or eur3/nam5); fixed once the database exists."
  type        = string
  default     = "eur3"
}

variable "datasets_bucket" {
  description = "Globally unique name of the datasets bucket (GCS_BUCKET)."
  type        = string
}

variable "source_bucket" {
  description = "Artifacts bucket where Cloud Build uploads functions/<source_version>/<name>.zip."
  type        = string
}

variable "source_version" {
  description = "Folder of the zips to deploy (Cloud Build's BUILD_ID)."
  type        = string
}

variable "auth_mode" {
  description = "AUTH_MODE of the functions: firebase or apikey."
  type        = string
  default     = "firebase"
}

variable "firebase_project_id" {
  description = "FIREBASE_PROJECT_ID whose ID tokens are accepted; empty means project_id."
  type        = string
  default     = ""
}

variable "cors_origins" {
  description = "Browser origins allowed by the API and for signed uploads."
  type        = list(string)
  default     = []
}

variable "llm_model" {
  description = "LLM_MODEL of every agent; empty with no key or endpoint means the offline planner."
  type        = string
  default     = ""
}

variable "llm_api_base" {
  description = "LLM_API_BASE of an OpenAI-compatible endpoint; empty for the provider's own."
  type        = string
  default     = ""
}

variable "provider_key_secrets" {
  description = "Secret Manager secrets for the fallbacks' provider keys (e.g. DEEPSEEK_API_KEY, OPENROUTER_API_KEY); add each value before the apply that lists it."
  type        = set(string)
  default     = []
}

variable "extra_environment" {
  description = "More plain settings for every function (names from convoinsight.settings.SETTINGS)."
  type        = map(string)
  default     = {}
}

variable "name_prefix" {
  description = "Prefix of function, service account, Redis, connector and secret names."
  type        = string
  default     = "convoinsight"
}

variable "public_http" {
  description = "Let anyone reach the public HTTP functions (the app authenticates)."
  type        = bool
  default     = true
}

variable "max_instances" {
  description = "Upper bound of instances per function."
  type        = number
  default     = 20
}

variable "domain" {
  description = "The API's domain: a global HTTPS load balancer with a managed certificate (empty: none)."
  type        = string
  default     = ""
}

variable "cloud_armor" {
  description = "Cloud Armor in front of the load balancer."
  type        = bool
  default     = true
}

variable "console_cdn" {
  description = "Cloud CDN in front of the web console's bucket (with a domain)."
  type        = bool
  default     = true
}

variable "alert_email" {
  description = "Where alerts are mailed (empty: none)."
  type        = string
  default     = ""
}

variable "min_instances_queries" {
  description = "Warm instances of the queries function."
  type        = number
  default     = 1
}

variable "min_instances_pipeline" {
  description = "Warm instances of the pipeline function."
  type        = number
  default     = 1
}

variable "startup_cpu_boost" {
  description = "Startup CPU boost on the Cloud Run services of queries and pipeline (applied with gcloud after each deploy of them)."
  type        = bool
  default     = true
}

variable "error_rate_threshold" {
  description = "Alert when 5xx answers exceed this share (0-1) of requests over 5 minutes."
  type        = number
  default     = 0.02
}

variable "p95_latency_ms" {
  description = "Alert when a function's p95 latency exceeds this many milliseconds over 5 minutes."
  type        = number
  default     = 5000
}
