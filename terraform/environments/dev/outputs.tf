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
