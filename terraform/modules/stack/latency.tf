# Where a cold start is felt: queries (a user waits for the answer) and pipeline (each async stage). They keep
# warm instances (min_instances_queries, min_instances_pipeline: prod 1 each, dev 0), and with startup_cpu_boost
# (prod true, dev false) their Cloud Run services get startup CPU boost: a shorter cold start when one happens
# (an instance beyond the warm ones, a new revision). The functions module applies it (cpu_boost.tf).
# Plain locals over the variables: tests/unit/test_terraform_latency.py evaluates them with `terraform console`
# for each environment's values, offline.

locals {
  latency_functions   = ["pipeline", "queries"]
  cpu_boost_functions = var.startup_cpu_boost ? local.latency_functions : []
}
