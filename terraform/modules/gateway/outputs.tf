output "ip_address" {
  description = "The load balancer's address: the A record of var.domain."
  value       = google_compute_global_address.api.address
}

output "base_url" {
  description = "The API's one origin (PUBLIC_BASE_URL)."
  value       = "https://${var.domain}"
}
