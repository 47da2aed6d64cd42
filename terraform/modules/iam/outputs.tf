output "project_roles" {
  description = "Project-level role granted per binding key (for review)."
  value       = { for k, v in local.project_roles : k => v.role }
}

output "bucket_roles" {
  description = "Bucket role granted per binding key (for review)."
  value       = { for k, v in local.bucket_roles : k => v.role }
}
