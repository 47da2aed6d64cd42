output "bucket_name" {
  description = "Name of the datasets bucket (GCS_BUCKET)."
  value       = google_storage_bucket.datasets.name
}

output "bucket_url" {
  description = "gs:// URL of the datasets bucket."
  value       = google_storage_bucket.datasets.url
}
