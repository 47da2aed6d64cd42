terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.14"
    }
  }

  # Partial configuration: the state bucket is given at init time,
  #   terraform init -backend-config="bucket=<state bucket>"
  # (Cloud Build passes _TF_STATE_BUCKET). A backend block cannot read variables.
  backend "gcs" {
    prefix = "convoinsight/prod"
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
