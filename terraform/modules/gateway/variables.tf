variable "project_id" {
  description = "Google Cloud project."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "region" {
  description = "Region of the functions (and of their serverless NEGs)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west1 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens."
  }
}

variable "domain" {
  description = "The API's domain (e.g. api.example.com): the managed certificate's and the URL map's host. Point its DNS A record at the output ip_address."
  type        = string
}

variable "services" {
  description = "Public function name => the Cloud Run service serving it (functions module output service_names, public only)."
  type        = map(string)
}

variable "extra_routes" {
  description = "Paths outside /api/v1/<function> => the function serving them (convoinsight.web.gateway.EXTRA_ROUTES)."
  type        = map(string)
}

variable "cloud_armor" {
  description = "Attach a Cloud Armor policy (WAF signatures and a per-address rate ceiling) to every backend."
  type        = bool
  default     = false
}

variable "armor_requests_per_minute" {
  description = "Cloud Armor's per-address ceiling (requests a minute) when cloud_armor is true."
  type        = number
  default     = 1200
}

variable "log_sample_rate" {
  description = "Share of requests the load balancer logs (0-1)."
  type        = number
  default     = 1
}
