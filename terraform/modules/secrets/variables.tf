variable "project_id" {
  description = "Google Cloud project of the secrets."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "name_prefix" {
  description = "Prefix of the secret ids."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,15}$", var.name_prefix))
    error_message = "name_prefix must be 3-16 lowercase letters, digits or hyphens."
  }
}

variable "secret_names" {
  description = "Setting names to hold in Secret Manager (e.g. LLM_API_KEY); values are added out of band, never in Terraform state."
  type        = set(string)

  validation {
    condition     = alltrue([for n in var.secret_names : can(regex("^[A-Z][A-Z0-9_]*$", n))])
    error_message = "secret names must be setting names: upper case letters, digits and underscores."
  }
}
