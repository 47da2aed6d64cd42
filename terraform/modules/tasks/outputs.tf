output "queue_name" {
  description = "Name of the queue (TASKS_QUEUE)."
  value       = google_cloud_tasks_queue.pipeline.name
}

output "queue_id" {
  description = "Full resource id of the queue."
  value       = google_cloud_tasks_queue.pipeline.id
}

output "location" {
  description = "Location of the queue (TASKS_LOCATION)."
  value       = google_cloud_tasks_queue.pipeline.location
}

output "invoker_email" {
  description = "Service account whose OIDC token Cloud Tasks sends (TASKS_SERVICE_ACCOUNT)."
  value       = google_service_account.invoker.email
}

output "invoker_id" {
  description = "Resource id of the invoker service account (for serviceAccountUser grants)."
  value       = google_service_account.invoker.name
}
