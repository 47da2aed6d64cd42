#!/usr/bin/env bash
# Startup CPU boost on the Cloud Run service behind a Cloud Function (gen2).
#
#   cpu-boost.sh SERVICE PROJECT REGION
#
# The Cloud Functions v2 API has no field for it, so google_cloudfunctions2_function cannot set it: Terraform
# (terraform_data.cpu_boost in modules/functions/cpu_boost.tf) runs this after every deploy of a boosted function,
# since a function deploy rewrites its service and may drop the setting. Runs
#   gcloud run services update SERVICE --project PROJECT --region REGION --cpu-boost --quiet
# with the caller's gcloud credentials. Without gcloud it fails (exit 127) rather than skip: a deploy that
# asked for the boost must not end without it.
set -euo pipefail

usage() {
  echo "usage: cpu-boost.sh SERVICE PROJECT REGION" >&2
  exit 2
}

[ "$#" -eq 3 ] || usage
service=$1
project=$2
region=$3
[ -n "$service" ] && [ -n "$project" ] && [ -n "$region" ] || usage

# A Cloud Run service name, not a resource path (Terraform passes the last segment of service_config[0].service).
if ! [[ "$service" =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]]; then
  echo "cpu-boost.sh: '$service' is not a Cloud Run service name (lowercase letters, digits, hyphens)" >&2
  exit 2
fi

# Bash builtins only up to here: the message below must come out even on a bare PATH.
if ! command -v gcloud >/dev/null 2>&1; then
  {
    echo "cpu-boost.sh: gcloud not found on PATH: cannot turn on startup CPU boost for Cloud Run service"
    echo "'$service' (project $project, region $region). Install the Google Cloud CLI where terraform runs"
    echo "(Cloud Build's deploy step runs in the cloud-sdk image for this), or set startup_cpu_boost = false."
  } >&2
  exit 127
fi

echo "cpu-boost.sh: startup CPU boost on Cloud Run service $service (project $project, region $region)"
exec gcloud run services update "$service" --project "$project" --region "$region" --cpu-boost --quiet
