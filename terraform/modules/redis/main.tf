# Redis on Memorystore (basic tier: no replica; the service degrades gracefully when Redis is down, so a
# failover replica is not worth its price) and the connector through which the functions reach it.

resource "google_redis_instance" "cache" {
  #checkov:skip=CKV_GCP_95:reachable only on the private network through the connector; AUTH would put a password in plain env
  #checkov:skip=CKV_GCP_97:in-transit TLS needs rediss:// and Memorystore's CA in the app; private network only for now
  project        = var.project_id
  region         = var.region
  name           = "${var.name_prefix}-redis"
  tier           = "BASIC"
  memory_size_gb = var.memory_size_gb
  redis_version  = var.redis_version
  connect_mode   = "DIRECT_PEERING"

  authorized_network = "projects/${var.project_id}/global/networks/${var.network}"

  # Caches and limits only: evict least-recently-used keys that carry a TTL rather than refuse writes.
  redis_configs = {
    maxmemory-policy = "volatile-lru"
  }
}

resource "google_vpc_access_connector" "functions" {
  project       = var.project_id
  region        = var.region
  name          = "${var.name_prefix}-vpc"
  network       = var.network
  ip_cidr_range = var.connector_cidr
  min_instances = 2
  max_instances = 3
  machine_type  = "e2-micro"
}
