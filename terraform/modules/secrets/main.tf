# Secret Manager secrets, one per secret setting. Only the containers live here: each value is added with
# `gcloud secrets versions add` so it never enters Terraform state or a tfvars file. Functions read them as
# secret environment variables (version "latest"), never as plain environment.

resource "google_secret_manager_secret" "secret" {
  for_each = var.secret_names

  project   = var.project_id
  secret_id = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}"

  replication {
    auto {}
  }

  labels = {
    app = "convoinsight"
  }
}
