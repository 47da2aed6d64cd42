variable "project_id" {
  description = "Google Cloud project of the bucket."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Location of the bucket; the same region as the functions (the ingest trigger must match it)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "bucket_name" {
  description = "Globally unique name of the datasets bucket (datasets, uploads, chart images)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots, hyphens or underscores."
  }
}

variable "cors_origins" {
  description = "Origins allowed to PUT files to signed upload URLs and GET signed downloads from a browser (the same list as CORS_ORIGINS); empty means no CORS rule."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_origins : o == "*" || can(regex("^https?://", o))])
    error_message = "each CORS origin must be * or start with http:// or https://."
  }
}

variable "cors_max_age_seconds" {
  description = "How long a browser may cache the bucket's CORS preflight answer (Access-Control-Max-Age), in seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.cors_max_age_seconds >= 0 && var.cors_max_age_seconds <= 86400
    error_message = "cors_max_age_seconds must be between 0 and 86400."
  }
}

variable "incoming_prefixes" {
  description = "Literal object-name prefixes of unclaimed signed uploads to delete after incoming_max_age_days; the app puts signed uploads under incoming/<uid>/, so the environments pass incoming/; empty: no rule."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.incoming_prefixes : endswith(p, "/") && !startswith(p, "tenants/")])
    error_message = "each incoming prefix must end with / and must not be under tenants/ (that would delete datasets)."
  }
}

variable "incoming_max_age_days" {
  description = "Days after which an unclaimed signed upload is deleted."
  type        = number
  default     = 2

  validation {
    condition     = var.incoming_max_age_days >= 1
    error_message = "incoming_max_age_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete a non-empty bucket (dev only; never in prod)."
  type        = bool
  default     = false
}
