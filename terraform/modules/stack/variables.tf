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

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "firestore_location" {
  description = "Firestore location (a region or eur3/nam5); fixed once the database exists."
  type        = string
  default     = "eur3"
}

variable "name_prefix" {
  description = "Prefix of function, service account, Redis, connector and secret names."
  type        = string
  default     = "convoinsight"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens (service account ids are capped at 30)."
  }
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

variable "public_http" {
  description = "Let anyone reach the public HTTP functions (the app authenticates with AUTH_MODE); false keeps them IAM-only."
  type        = bool
  default     = true
}

variable "auth_mode" {
  description = "AUTH_MODE of the functions: firebase (ID tokens) or apikey (keys issued by the auth function)."
  type        = string
  default     = "firebase"

  validation {
    condition     = contains(["firebase", "apikey"], var.auth_mode)
    error_message = "auth_mode must be firebase or apikey (dev is allowed only in local mode)."
  }
}

variable "firebase_project_id" {
  description = "FIREBASE_PROJECT_ID whose ID tokens are accepted; empty means project_id."
  type        = string
  default     = ""
}

variable "cors_origins" {
  description = "Browser origins allowed by the API (CORS_ORIGINS) and to PUT signed uploads to the bucket."
  type        = list(string)
  default     = []
}

variable "llm_model" {
  description = "LLM_MODEL: litellm model of every agent; empty with no key or endpoint means the offline planner."
  type        = string
  default     = ""
}

variable "llm_api_base" {
  description = "LLM_API_BASE: base URL of an OpenAI-compatible endpoint; empty for the provider's own."
  type        = string
  default     = ""
}

variable "secret_settings" {
  description = "Settings held in Secret Manager and given to the functions that call models or read stored database passwords and model keys (FERNET_KEY) as secret environment variables."
  type        = set(string)
  default     = ["LLM_API_KEY", "FERNET_KEY"]
}

variable "provider_key_secrets" {
  description = "Keys of the providers the prompts' fallbacks use (litellm's <PROVIDER>_API_KEY, e.g. DEEPSEEK_API_KEY, OPENROUTER_API_KEY): one Secret Manager secret each, given to the functions that call models. A fallback whose key is absent is skipped without a request. Add each secret's value before the apply that lists it: a function cannot start on a secret with no version."
  type        = set(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.provider_key_secrets : can(regex("^[A-Z][A-Z0-9]*_API_KEY$", n)) && n != "LLM_API_KEY"])
    error_message = "provider_key_secrets: names like DEEPSEEK_API_KEY (<PROVIDER>_API_KEY); LLM_API_KEY is already a secret setting."
  }
}

variable "extra_environment" {
  description = "More plain settings for every function (keys must be names from convoinsight.settings.SETTINGS)."
  type        = map(string)
  default     = {}
}

variable "redis_memory_size_gb" {
  description = "Memory of the Memorystore instance, in GB."
  type        = number
  default     = 1
}

variable "connector_cidr" {
  description = "Unused /28 of the default network for the Serverless VPC Access connector."
  type        = string
  default     = "10.8.0.0/28"
}

variable "max_instances" {
  description = "Upper bound of instances per function."
  type        = number
  default     = 20
}

variable "incoming_prefixes" {
  description = "Literal prefixes of signed uploads deleted after 2 days when never registered (uploads land under incoming/<uid>/)."
  type        = list(string)
  default     = ["incoming/"]
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "deletion_protection" {
  description = "Protect the Firestore database from terraform destroy (true for anything with real data)."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let terraform destroy delete a non-empty datasets bucket (disposable environments only)."
  type        = bool
  default     = false
}

variable "domain" {
  description = "The API's domain (e.g. api.example.com): a global HTTPS load balancer with a managed certificate serves it, PUBLIC_BASE_URL is https://<domain> and the public functions take traffic only through it. Empty: no load balancer (function URLs only)."
  type        = string
  default     = ""

  validation {
    condition     = var.domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be empty or a lowercase DNS name such as api.example.com (no scheme, port, path or trailing dot)."
  }
}

variable "cloud_armor" {
  description = "Put a Cloud Armor policy (WAF signatures, a per-address ceiling) in front of the load balancer's backends."
  type        = bool
  default     = false
}

variable "console_cdn" {
  description = "Serve the web console's files (the bucket at / of the domain) through Cloud CDN."
  type        = bool
  default     = false
}

variable "min_instances_queries" {
  description = "Warm instances of the queries function (first answers without a cold start)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances_queries >= 0 && var.min_instances_queries <= 100 && floor(var.min_instances_queries) == var.min_instances_queries
    error_message = "min_instances_queries must be a whole number from 0 to 100."
  }
}

variable "min_instances_pipeline" {
  description = "Warm instances of the pipeline function (async stages without a cold start)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances_pipeline >= 0 && var.min_instances_pipeline <= 100 && floor(var.min_instances_pipeline) == var.min_instances_pipeline
    error_message = "min_instances_pipeline must be a whole number from 0 to 100."
  }
}

variable "startup_cpu_boost" {
  description = "Startup CPU boost on the Cloud Run services of queries and pipeline (more CPU while an instance starts, so a cold start is shorter). Applied with gcloud after each deploy of those functions: gcloud must be on PATH where terraform runs."
  type        = bool
  default     = false
  nullable    = false
}

variable "alert_email" {
  description = "Where the error-rate and latency alerts are mailed; empty: no notification channel."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be empty or an email address."
  }
}

variable "error_rate_threshold" {
  description = "Alert when 5xx answers exceed this share (0-1) of all requests over 5 minutes."
  type        = number
  default     = 0.02

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold is a share of requests: between 0 and 1, e.g. 0.02 for 2%."
  }
}

variable "p95_latency_ms" {
  description = "Alert when a function's p95 latency exceeds this many milliseconds over 5 minutes."
  type        = number
  default     = 5000

  validation {
    condition     = var.p95_latency_ms > 0
    error_message = "p95_latency_ms must be positive."
  }
}
