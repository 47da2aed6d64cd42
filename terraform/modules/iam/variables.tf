variable "project_id" {
  description = "Google Cloud project where the project-level roles are granted."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions' Cloud Run services."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "function_service_accounts" {
  description = "Email of each function's own service account, by function folder name."
  type        = map(string)

  validation {
    condition = alltrue([for name in ["auth", "charts", "datasets", "health", "ingest", "llm", "pipeline", "prompts", "queries", "sessions", "sources"] :
    contains(keys(var.function_service_accounts), name)])
    error_message = "function_service_accounts must name every function the roles below are granted to."
  }
}

variable "function_services" {
  description = "Cloud Run service behind each function, by function folder name."
  type        = map(string)
}

variable "bucket_name" {
  description = "The datasets bucket."
  type        = string
}

variable "tasks_invoker_id" {
  description = "Resource id (projects/.../serviceAccounts/...) of the Cloud Tasks invoker service account."
  type        = string
}

variable "tasks_invoker_email" {
  description = "Email of the Cloud Tasks invoker service account."
  type        = string
}

variable "secret_ids" {
  description = "Full resource id of each secret, by setting name."
  type        = map(string)
  default     = {}
}

variable "secret_consumers" {
  description = "Functions that read the secrets (secret environment variables)."
  type        = list(string)
  default     = []
}
