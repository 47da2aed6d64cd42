variable "project_id" {
  description = "Google Cloud project of the queue."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Location of the queue (TASKS_LOCATION)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of the invoker service account id."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens."
  }
}

variable "queue_name" {
  description = "Name of the queue carrying pipeline stages (TASKS_QUEUE)."
  type        = string
  default     = "convoinsight-pipeline"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,100}$", var.queue_name))
    error_message = "queue_name must be 1-100 letters, digits or hyphens."
  }
}

variable "max_attempts" {
  description = "Deliveries of one stage task before Cloud Tasks drops it (the app also caps attempts: JOB_MAX_ATTEMPTS)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 100
    error_message = "max_attempts must be between 1 and 100."
  }
}

variable "min_backoff_seconds" {
  description = "Shortest wait before a failed stage task is retried."
  type        = number
  default     = 2
}

variable "max_backoff_seconds" {
  description = "Longest wait before a failed stage task is retried."
  type        = number
  default     = 60

  validation {
    condition     = var.max_backoff_seconds >= 1 && var.max_backoff_seconds <= 3600
    error_message = "max_backoff_seconds must be between 1 and 3600."
  }
}

variable "max_concurrent_dispatches" {
  description = "Stages running at once across all jobs (bounds model spend and pipeline instances)."
  type        = number
  default     = 50
}
