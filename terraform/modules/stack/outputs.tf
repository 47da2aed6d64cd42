output "function_urls" {
  description = "HTTPS URL of each function (the pipeline's answers only Cloud Tasks)."
  value       = module.functions.urls
}

output "pipeline_url" {
  description = "TASKS_TARGET_URL given to the functions."
  value       = module.functions.pipeline_url
}

output "datasets_bucket" {
  description = "The datasets bucket (GCS_BUCKET)."
  value       = module.storage.bucket_name
}

output "tasks_queue" {
  description = "The Cloud Tasks queue carrying pipeline stages (TASKS_QUEUE)."
  value       = module.tasks.queue_id
}

output "secret_ids" {
  description = "Secret Manager ids to fill with `gcloud secrets versions add <id> --data-file=-`."
  value       = module.secrets.secret_ids
}

output "load_balancer_ip" {
  description = "The load balancer's address (point the domain's A record here); null without a domain."
  value       = var.domain == "" ? null : module.gateway[0].ip_address
}

output "base_url" {
  description = "The API's one origin (PUBLIC_BASE_URL); null without a domain."
  value       = var.domain == "" ? null : module.gateway[0].base_url
}

output "cpu_boost_services" {
  description = "Cloud Run services given startup CPU boost, by function name (empty without startup_cpu_boost)."
  value       = module.functions.cpu_boost_services
}

output "console_bucket" {
  description = "The bucket serving the web console at / of the domain (Cloud Build uploads console/ to it); empty without a domain."
  value       = var.domain == "" ? "" : module.gateway[0].console_bucket
}
