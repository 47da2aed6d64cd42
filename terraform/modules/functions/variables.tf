variable "project_id" {
  description = "Google Cloud project the functions run in."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "project_number" {
  description = "Numeric project number; it makes the deterministic run.app URL of the pipeline function."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+$", var.project_number))
    error_message = "project_number must be digits only."
  }
}

variable "region" {
  description = "Region of the functions (and of the datasets bucket the ingest trigger watches)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every function and service account name, e.g. convoinsight or convoinsight-dev."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens (service account ids are capped at 30)."
  }
}

variable "source_bucket" {
  description = "Bucket holding the function zips that Cloud Build uploads (the artifacts bucket)."
  type        = string
}

variable "source_version" {
  description = "Folder of this build's zips in the artifacts bucket (Cloud Build's BUILD_ID): functions/<version>/<name>.zip."
  type        = string

  validation {
    condition     = length(var.source_version) > 0 && !can(regex("/", var.source_version))
    error_message = "source_version must be a non-empty folder name without slashes."
  }
}

variable "environment" {
  description = "Plain environment variables of every function; keys must be setting names of convoinsight.settings (a unit test checks)."
  type        = map(string)
  default     = {}
}

variable "secret_environment" {
  description = "Secret environment variables: setting name => Secret Manager secret id, given only to functions that call models."
  type        = map(string)
  default     = {}
}

variable "datasets_bucket" {
  description = "Bucket whose object-finalized events trigger the ingest function."
  type        = string
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector id through which the functions reach Memorystore."
  type        = string
}

variable "public_http" {
  description = "Grant run.invoker to allUsers on the public HTTP functions (the app authenticates every request itself)."
  type        = bool
  default     = true
}

variable "behind_load_balancer" {
  description = "The public functions sit behind the gateway module's load balancer: their ingress is ALLOW_INTERNAL_AND_GCLB (false: ALLOW_ALL, their own URLs are the way in)."
  type        = bool
  default     = false
}

variable "max_instances" {
  description = "Upper bound of instances per function (a cost ceiling)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances must be between 1 and 1000."
  }
}

variable "min_instances" {
  description = "Function name => instances kept warm (0 when not listed)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for n in values(var.min_instances) : n >= 0 && n <= 100])
    error_message = "min_instances values must be between 0 and 100."
  }
}

variable "cpu_boost_functions" {
  description = "Functions whose Cloud Run service gets startup CPU boost (more CPU while an instance starts), applied with gcloud after each deploy of the function (cpu_boost.tf); gcloud must be on PATH where terraform runs. Empty: none."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for name in var.cpu_boost_functions : can(regex("^[a-z][a-z0-9_]*$", name))])
    error_message = "cpu_boost_functions must hold function names (folders of functions/, e.g. queries), not service names or paths."
  }
}
