output "ip_address" {
  description = "The load balancer's address: the A record of var.domain."
  value       = google_compute_global_address.api.address
}

output "base_url" {
  description = "The API's one origin (PUBLIC_BASE_URL)."
  value       = "https://${var.domain}"
}

output "console_bucket" {
  description = "The bucket serving the web console at / (Cloud Build uploads console/ to it); empty without the console."
  value       = var.console ? google_storage_bucket.console[0].name : ""
}
