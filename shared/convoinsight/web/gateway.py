"""The one origin's routing table: which function serves which public path.

In the cloud a global external Application Load Balancer routes by these prefixes to one serverless NEG
per function (terraform/modules/gateway); locally the emulator routes the same way (local_emulator/server.py).
Neither rewrites the path: a function receives ``/api/v1/<name>/...`` whole and matches its routes on the
inner part (``FunctionApp.inner_path``); Cloud Functions' own URL hands it the inner path directly.
A test holds Terraform's URL map to this table.
"""

from __future__ import annotations

API_PREFIX = "/api/v1"
# Functions reachable from the internet (through the load balancer). pipeline and ingest are private:
# Cloud Tasks and Eventarc call them with an OIDC token, and their ingress is internal only.
PUBLIC_FUNCTIONS = ("auth", "charts", "datasets", "health", "llm", "mcp", "prompts", "queries", "sessions",
                    "sources")
PRIVATE_FUNCTIONS = ("ingest", "pipeline")

# Paths outside /api/v1/<function>/ and the function that serves them, most specific first.
EXTRA_ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/openapi.json", "health"),  # the combined OpenAPI document
    ("/api/v1/metrics", "health"),  # Prometheus text (METRICS_ENABLED)
    ("/api/v1/storage", "charts"),  # the original API's /api/v1/storage/charts
    ("/upload-datasets", "datasets"),  # the original API's upload
    ("/list-domains", "datasets"),  # the original API's domain list
    ("/domain", "datasets"),  # the original API's /domain/{d}/datasets
)


def function_prefix(name: str) -> str:
    return f"{API_PREFIX}/{name}"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def function_for(path: str, functions: tuple[str, ...] | list[str] = PUBLIC_FUNCTIONS) -> str | None:
    """The function that serves ``path`` at the one origin, or None (the gateway answers 404)."""
    for prefix, name in EXTRA_ROUTES:
        if _under(path, prefix) and name in functions:
            return name
    for name in functions:
        if _under(path, function_prefix(name)):
            return name
    return None
