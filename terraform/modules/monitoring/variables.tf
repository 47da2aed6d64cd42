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

variable "services" {
  description = "Cloud Run service names of this deployment's functions (a gen2 function's service is named like it): the metrics count only their log entries."
  type        = list(string)

  validation {
    condition     = length(var.services) > 0 && alltrue([for s in var.services : can(regex("^[a-z][a-z0-9-]{0,62}$", s))])
    error_message = "services must be a non-empty list of Cloud Run service names."
  }
}

variable "alert_email" {
  description = "Where alerts are mailed; empty: the policies exist without a notification channel."
  type        = string
  default     = ""

  validation {
    condition     = var.alert_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be empty or an email address."
  }
}

variable "error_rate_threshold" {
  description = "Alert when 5xx answers exceed this share (0-1) of all requests over the window."
  type        = number
  default     = 0.02

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold is a share of requests: between 0 and 1, e.g. 0.02 for 2%."
  }
}

variable "p95_latency_ms" {
  description = "Alert when a function's p95 request latency exceeds this over the window (ms)."
  type        = number
  default     = 5000

  validation {
    condition     = var.p95_latency_ms > 0
    error_message = "p95_latency_ms must be positive."
  }
}

variable "window_seconds" {
  description = "The alerts' window: the 5xx ratio and the p95 are computed over this many seconds."
  type        = number
  default     = 300

  validation {
    condition     = var.window_seconds >= 60 && var.window_seconds <= 86400 && var.window_seconds % 60 == 0
    error_message = "window_seconds must be whole minutes, from 60 to 86400."
  }
}
