output "deployment" {
  description = "Function URLs, the pipeline URL, the datasets bucket, the tasks queue and the secret ids to fill."
  value = {
    function_urls   = module.stack.function_urls
    pipeline_url    = module.stack.pipeline_url
    datasets_bucket = module.stack.datasets_bucket
    tasks_queue     = module.stack.tasks_queue
    secret_ids      = module.stack.secret_ids
  }
}

output "load_balancer_ip" {
  description = "Point the domain's A record here."
  value       = module.stack.load_balancer_ip
}

output "base_url" {
  description = "The API's one origin."
  value       = module.stack.base_url
}

output "cpu_boost_services" {
  description = "Cloud Run services given startup CPU boost, by function name."
  value       = module.stack.cpu_boost_services
}

output "console_bucket" {
  description = "The web console's bucket (Cloud Build's console step uploads console/ to it); empty without a domain."
  value       = module.stack.console_bucket
}
