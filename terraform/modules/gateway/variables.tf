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

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lowercase DNS name such as api.example.com (no scheme, port, path or trailing dot)."
  }
}

variable "services" {
  description = "Public function name => the Cloud Run service serving it (functions module output public_service_names). Private functions (pipeline, ingest) must never be listed: whatever is here is reachable from the internet."
  type        = map(string)

  validation {
    # health is the URL map's default backend: it answers every unclaimed path with the API's JSON 404.
    condition     = contains(keys(var.services), "health")
    error_message = "services must include health (the default backend)."
  }
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
  description = "Cloud Armor's per-address ceiling (requests a minute) when cloud_armor is true; answers 429 above it."
  type        = number
  default     = 1200

  validation {
    condition     = var.armor_requests_per_minute >= 10 && floor(var.armor_requests_per_minute) == var.armor_requests_per_minute
    error_message = "armor_requests_per_minute must be a whole number of at least 10."
  }
}

variable "log_sample_rate" {
  description = "Share of requests the load balancer logs (0-1)."
  type        = number
  default     = 1

  validation {
    condition     = var.log_sample_rate >= 0 && var.log_sample_rate <= 1
    error_message = "log_sample_rate must be between 0 and 1."
  }
}

variable "console" {
  description = "Serve the web console (console/) from a public bucket at / of the domain; /api/v1/* stays with the functions."
  type        = bool
  default     = true
}

variable "console_cdn" {
  description = "Cache the console's files in Cloud CDN (the objects' Cache-Control decides what and how long)."
  type        = bool
  default     = false
}
