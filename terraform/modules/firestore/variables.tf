variable "project_id" {
  description = "Google Cloud project of the Firestore database."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens."
  }
}

variable "location" {
  description = "Firestore location: a region (europe-west1) or a multi-region (eur3, nam5). Cannot change later."
  type        = string

  validation {
    condition     = can(regex("^([a-z]+-[a-z]+[0-9]|eur3|nam5|nam7)$", var.location))
    error_message = "location must be a region like europe-west1 or a multi-region eur3, nam5 or nam7."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the database through Terraform (keep true in prod)."
  type        = bool
  default     = true
}
