output "secret_ids" {
  description = "Secret id by setting name, for secret environment variables."
  value       = { for name, s in google_secret_manager_secret.secret : name => s.secret_id }
}

output "secret_resource_ids" {
  description = "Full resource id by setting name, for IAM bindings."
  value       = { for name, s in google_secret_manager_secret.secret : name => s.id }
}
