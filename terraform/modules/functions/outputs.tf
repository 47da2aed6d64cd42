output "names" {
  description = "Function name by folder name."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.name }
}

output "urls" {
  description = "HTTPS URL of each function by folder name."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].uri }
}

output "service_names" {
  description = "Cloud Run service behind each function (where run.invoker is granted)."
  value       = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].service }
}

output "service_accounts" {
  description = "Email of each function's own service account by folder name."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "secret_consumers" {
  description = "Functions that receive the secret environment (and need secretAccessor)."
  value       = [for name, f in local.functions : name if f.secrets]
}

output "pipeline_url" {
  description = "Deterministic URL of the pipeline function, used as TASKS_TARGET_URL."
  value       = local.pipeline_url
}

output "public_service_names" {
  description = "Cloud Run service behind each public function: the load balancer's backends."
  value = { for name, f in google_cloudfunctions2_function.function : name => f.service_config[0].service
  if local.functions[name].public }
}

output "cpu_boost_services" {
  description = "Cloud Run service given startup CPU boost, by function name (empty without the boost)."
  value       = { for name, boost in terraform_data.cpu_boost : name => boost.output }
}
