output "redis_url" {
  description = "REDIS_URL of the functions: redis://host:port/0 on the private network."
  value       = "redis://${google_redis_instance.cache.host}:${google_redis_instance.cache.port}/0"
}

output "vpc_connector" {
  description = "Id of the Serverless VPC Access connector the functions use."
  value       = google_vpc_access_connector.functions.id
}
