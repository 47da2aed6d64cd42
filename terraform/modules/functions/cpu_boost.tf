# Startup CPU boost on the Cloud Run service of each function in var.cpu_boost_functions.
#
# The Cloud Functions v2 API has no field for it (google_cloudfunctions2_function cannot set it), but a gen2
# function is a Cloud Run service, which has it: ../../scripts/cpu-boost.sh runs
#   gcloud run services update <service> --project <project> --region <region> --cpu-boost --quiet
# A function deploy rewrites that service and may drop the setting, so the resource is keyed on the function's
# update_time and service name: every deploy of the function replaces it, and the boost is applied again in
# the same apply. The script fails (the apply with it) when gcloud is missing; the resource is then tainted and
# the next apply tries again. Turning the boost off for a function destroys its resource but does not touch
# the service: its next deploy (or `gcloud run services update <service> --no-cpu-boost`) clears it.
#
# tests/unit/test_terraform_latency.py applies this file offline (terraform_data needs no provider) with a fake
# gcloud and checks the exact command.

resource "terraform_data" "cpu_boost" {
  for_each = var.cpu_boost_functions

  triggers_replace = local.cpu_boost_targets[each.key]
  input            = local.cpu_boost_targets[each.key].service

  lifecycle {
    precondition {
      condition     = contains(keys(local.cpu_boost_targets), each.key)
      error_message = "cpu_boost_functions names \"${each.key}\", which is not a function of this module (a folder of functions/)."
    }
  }

  provisioner "local-exec" {
    # Values travel as environment variables, never spliced into the shell command.
    command = "bash \"$CPU_BOOST_SCRIPT\" \"$CPU_BOOST_SERVICE\" \"$CPU_BOOST_PROJECT\" \"$CPU_BOOST_REGION\""
    environment = {
      CPU_BOOST_SCRIPT  = "${path.module}/../../scripts/cpu-boost.sh"
      CPU_BOOST_SERVICE = self.input
      CPU_BOOST_PROJECT = var.project_id
      CPU_BOOST_REGION  = var.region
    }
  }
}
