variable "project_id" {
  description = "Google Cloud project."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (and of the functions' Cloud Run services)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens."
  }
}

variable "alert_email" {
  description = "Where alerts are mailed; empty: the policies exist without a notification channel."
  type        = string
  default     = ""
}

variable "error_rate_threshold" {
  description = "Alert when 5xx answers exceed this share of requests over 5 minutes."
  type        = number
  default     = 0.02
}

variable "p95_latency_ms" {
  description = "Alert when a function's p95 request latency exceeds this over 5 minutes (ms)."
  type        = number
  default     = 5000
}
