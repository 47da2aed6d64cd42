# The routing table of the one origin, and nothing else: plain locals over var.services and var.extra_routes, so
# tests/unit/test_terraform_gateway.py can evaluate this file with `terraform console` (no provider needed) and
# compare the result with shared/convoinsight/web/gateway.py (function_for), which the emulator routes by.

locals {
  api_prefix = "/api/v1"

  # Each public function answers its prefix, bare and below it.
  function_routes = merge(
    { for name, _ in var.services : "${local.api_prefix}/${name}" => name },
    { for name, _ in var.services : "${local.api_prefix}/${name}/*" => name },
  )

  # Extra paths (gateway.EXTRA_ROUTES), bare and below them, only for functions behind the load balancer: a route
  # to a function that is not public is dropped, as function_for drops it.
  extra_routes = { for path, name in var.extra_routes : path => name if contains(keys(var.services), name) }
  extra_paths  = merge(local.extra_routes, { for path, name in local.extra_routes : "${path}/*" => name })

  # path => function. A path claimed twice would silently lose one claim here; the URL map's precondition
  # refuses that (route_count).
  routes      = merge(local.function_routes, local.extra_paths)
  route_count = 2 * (length(var.services) + length(local.extra_routes))

  # One path rule per backend. Path rules are matched by the longest path, not in order, so the order of
  # these lists does not matter; sorted, the plan stays stable.
  paths_by_function = { for name, _ in var.services : name => sort([for path, fn in local.routes : path if fn == name]) }

  # With the web console at / (console.tf), the rest of /api/v1/ still belongs to the API: health's JSON 404.
  unclaimed_api_paths = ["${local.api_prefix}/*"]
}
