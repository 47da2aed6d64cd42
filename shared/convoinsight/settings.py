"""Every setting in one list (name, default, help), read once into a typed object.

Sources, highest first: the ``env`` mapping passed to :func:`load_settings`
(``os.environ`` when none is given) > the defaults below. ``DEPLOYMENT_MODE``
is a preset of three backend choices (blobs, documents, stage queue);
``BLOB_BACKEND``, ``DOCUMENT_BACKEND`` and ``QUEUE_BACKEND`` override the
preset one by one (required in ``hybrid`` mode).

The README documents every entry of ``SETTINGS``; a test keeps them in step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from convoinsight.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    choices: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting("DEPLOYMENT_MODE", "local", "Backend preset: `local` (folder, PostgreSQL, in-process), "
            "`cloud` (GCS, Firestore, Cloud Tasks) or `hybrid` (set the three *_BACKEND settings).",
            ("local", "cloud", "hybrid")),
    Setting("BLOB_BACKEND", "", "Override the preset's blob store: `local` or `gcs`.", ("", "local", "gcs")),
    Setting("DOCUMENT_BACKEND", "", "Override the preset's document store: `postgres` or `firestore`.",
            ("", "postgres", "firestore")),
    Setting("QUEUE_BACKEND", "", "Override the preset's stage queue: `inprocess` or `cloudtasks`.",
            ("", "inprocess", "cloudtasks")),
    Setting("LOCAL_STATE_DIR", ".local", "Folder for local state: blobs, the emulator's PostgreSQL data and logs."),
    Setting("POSTGRES_URL", "", "PostgreSQL URL for the document store (local mode), e.g. "
            "`postgresql://user:pass@127.0.0.1:5432/convoinsight`. `make dev` starts its own when empty."),
    Setting("REDIS_URL", "", "Redis URL (caches, memory, limits), e.g. `redis://127.0.0.1:6379/0`. "
            "`make dev` starts its own when empty; the service degrades gracefully without it."),
    Setting("CACHE_ENABLED", "true", "Use Redis caches (`true`/`false`)."),
    Setting("GCP_PROJECT_ID", "", "Google Cloud project (cloud mode)."),
    Setting("GCS_BUCKET", "", "Bucket for datasets and charts (cloud mode)."),
    Setting("GCS_SIGNING_KEY_FILE", "", "Service-account key JSON used only to sign upload URLs where IAM signing "
            "is unavailable (emulators, outside Google Cloud). Empty: sign through IAM as the function's account."),
    Setting("CORS_ORIGINS", "", "Comma-separated origins allowed by CORS; `*` allows any; empty disables CORS."),
    Setting("PUBLIC_BASE_URL", "", "The one origin clients use (the load balancer, e.g. `https://api.example.com`; "
            "`make dev` sets `http://127.0.0.1:$PORT`): every URL the API returns is made absolute with it. "
            "Empty: root-relative paths (`/api/v1/...`)."),
    Setting("LINK_TOKEN_SECONDS", "300", "Lifetime of the signed token on links a browser follows without headers "
            "(`events_url`, chart `image_url`, dataset `download_urls`): 30-600 seconds."),
    Setting("AUTH_MODE", "dev", "`dev` trusts the `X-User-Id` header (local mode only); `firebase` verifies "
            "Firebase / Identity Platform ID tokens; `apikey` checks API keys issued by the `auth` function. "
            "Both send `Authorization: Bearer ...`. In every mode a bearer credential shaped like an API key "
            "(`ci_...`) is checked as an API key (an invalid or revoked one is a 401, never ignored), so scripts and "
            "the `mcp` function work whatever the mode.", ("dev", "firebase", "apikey")),
    Setting("FIREBASE_PROJECT_ID", "", "Firebase project whose ID tokens are accepted (`AUTH_MODE=firebase`): "
            "the token's audience and issuer. Empty: `GCP_PROJECT_ID`."),
    Setting("FIREBASE_CERTS_URL", "https://www.googleapis.com/robot/v1/metadata/x509/"
            "securetoken@system.gserviceaccount.com", "Where Firebase's token-signing certificates are fetched; "
            "cached per process for the response's Cache-Control max-age."),
    Setting("LLM_MODEL", "", "litellm model name used by every agent, overriding the prompts' models "
            "(e.g. `openai/gpt-4o-mini`). Empty with no endpoint or key: the offline planner."),
    Setting("LLM_API_BASE", "", "Base URL of any OpenAI-compatible endpoint (vLLM, Ollama, a gateway)."),
    Setting("LLM_API_KEY", "", "API key sent to the model provider or endpoint. Never logged."),
    Setting("PROMPTS_DIR", "", "Folder of the agents' prompt YAML files; empty means the `prompts/` shipped beside "
            "the package (a function bundle's root, or the repository's)."),
    Setting("LLM_TIMEOUT_SECONDS", "60", "Timeout of one model call, in seconds."),
    Setting("LLM_PRELOAD", "auto", "When the functions that call models (`queries`, `pipeline`, `llm`) import "
            "litellm: `auto` as the instance starts when a server model, endpoint or key is configured (under "
            "functions-framework's server before the port opens, so no request of a new instance waits for it; "
            "elsewhere in the background), else on the first remote call (the offline planner never needs it); "
            "`always` at every start (users bring their own keys); `never` on the first remote call.",
            ("auto", "always", "never")),
    Setting("LLM_MAX_RETRIES", "2", "Retries of one model call on 429, 5xx and timeouts (exponential backoff "
            "with jitter) before the next fallback model."),
    Setting("LLM_FALLBACK_MODELS", "", "Fallback models tried in order when an agent's model fails (5xx, 429, "
            "connection errors and timeouts after LLM_MAX_RETRIES; invalid JSON after its one repair; a refused key), "
            "overriding the prompts' `fallbacks`: `m1,m2` for every agent, `analyzer=m1|m2;compiler=m3` per agent "
            "(both: `m1;compiler=m3`; agents not named keep their prompt's list), `none` (or `compiler=none`) for "
            "no fallback model. Names are litellm's `provider/model`. A fallback is tried only when its provider "
            "can be called: the caller's key for it, the deployment's (LLM_API_KEY / LLM_API_BASE for the server's "
            "provider, or litellm's `<PROVIDER>_API_KEY` / `<PROVIDER>_API_BASE`, e.g. `DEEPSEEK_API_KEY`); "
            "others are skipped. The offline planner always answers last. Checked at start."),
    Setting("LLM_CHAIN_TIMEOUT_SECONDS", "90", "Time one agent call may take over its whole fallback chain "
            "(retries and repairs included): each call's timeout is cut to what is left, no model is started past "
            "it, and the offline planner answers. At most TASKS_DISPATCH_DEADLINE_SECONDS."),
    Setting("LLM_BREAKER_THRESHOLD", "5", "Failed calls within a minute that open a model's circuit breaker "
            "(shared by all instances through Redis); 0 disables it."),
    Setting("LLM_BREAKER_COOLDOWN_SECONDS", "30", "How long an open breaker skips its model before a trial call."),
    Setting("DAILY_TOKEN_BUDGET", "2000000", "Model tokens one user may spend per UTC day; past it questions get "
            "429 until midnight. 0 disables the budget."),
    Setting("BUDGET_FAIL_OPEN", "false", "Spend is kept in the document store with Redis as its fast path; when "
            "neither can be read, `false` refuses questions (503 `budget_unavailable`), `true` lets them through."),
    Setting("BUDGET_COUNTS_USER_KEYS", "false", "Whether model calls a user pays with their own key (`POST "
            "/api/v1/llm/keys`, or a question's `apiKey`) count against DAILY_TOKEN_BUDGET; `false`: only calls "
            "on the server's key do."),
    Setting("RATE_LIMIT_ENABLED", "true", "Limit requests per user (per address before sign-in) in Redis "
            "(`true`/`false`). Limited responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and "
            "`X-RateLimit-Reset` (seconds until the oldest counted request leaves the window); 429 adds "
            "`Retry-After`. `/live` and `/ready` are never limited."),
    Setting("RATE_LIMITS", "default=100/hour,query=20/minute,upload=50/hour,dataset_ops=200/hour,export=30/hour,"
            "auth=10/minute,poll=1200/minute",
            "Sliding-window limit of each route class as `class=count/unit` (unit `second`, `minute`, `hour` or "
            "`day`), comma-separated; classes left out keep these defaults. `auth` counts failed sign-ins per "
            "address."),
    Setting("RATE_LIMIT_FAIL_OPEN", "true", "With Redis unreachable, `true` lets requests through (logged and "
            "counted), `false` refuses them with 503 and `Retry-After`."),
    Setting("TRUSTED_PROXY_HOPS", "0", "Proxies in front of the functions that append the caller's address to "
            "`X-Forwarded-For`: per-address limits use the address that many entries from the right, and `0` "
            "uses the connection's own peer (the header is ignored). `1` on Cloud Run / Cloud Functions URLs, "
            "where Google's front end appends it; `2` behind an external Application Load "
            "Balancer as well (Terraform sets 1, or 2 with a `domain`). Entries further left come from the client "
            "and are never trusted."),
    Setting("MAX_UPLOAD_BYTES", str(32 * 1024 * 1024), "Largest dataset upload accepted over HTTP, in bytes."),
    Setting("MAX_SIGNED_UPLOAD_BYTES", str(1024 * 1024 * 1024), "Largest file accepted through a signed upload URL "
            "(registered by the `ingest` function), in bytes."),
    Setting("MAX_DATASET_ROWS", "5000000", "Most rows a dataset may have; larger files are refused with 413."),
    Setting("MAX_DATASET_COLUMNS", "1000", "Most columns a dataset may have; wider files are refused with 413."),
    Setting("MAX_NESTING_DEPTH", "32", "Most levels of nested lists and objects a cell may have (JSON, NDJSON, "
            "Parquet), checked before any parser reads the file; deeper files are refused with 422 `too_deep`. "
            "1 to 64."),
    Setting("INGEST_TIMEOUT_SECONDS", "300", "Time limit of reading one upload into its canonical Parquet file in "
            "an ingest worker; past it the worker is killed and replaced, and the upload gets 413 "
            "`file_too_complex`."),
    Setting("INGEST_MEMORY_MB", "1024", "Memory one ingest worker process may commit (its data-segment limit, "
            "RLIMIT_DATA); past it the upload gets 413 `file_too_complex` and the worker is replaced. At least 256."),
    Setting("INGEST_WORKERS", "1", "Ingest worker processes per instance; more uploads at once wait for a free "
            "worker (up to 30 s, then 503 `ingest_busy` with `Retry-After`)."),
    Setting("SIGNED_URL_SECONDS", "900", "Lifetime of signed upload URLs, in seconds."),
    Setting("TASKS_LOCATION", "", "Region of the Cloud Tasks queue (required with QUEUE_BACKEND=cloudtasks)."),
    Setting("TASKS_QUEUE", "convoinsight-pipeline", "Cloud Tasks queue that carries pipeline stages."),
    Setting("TASKS_TARGET_URL", "", "URL of the `pipeline` function each stage is POSTed to "
            "(required with QUEUE_BACKEND=cloudtasks)."),
    Setting("TASKS_SERVICE_ACCOUNT", "", "Service account whose OIDC token Cloud Tasks sends to the pipeline "
            "function (needs run.invoker on it). Empty: no token (emulator)."),
    Setting("TASKS_AUDIENCE", "", "Audience of that OIDC token; empty means TASKS_TARGET_URL."),
    Setting("CLOUD_TASKS_EMULATOR_HOST", "", "host:port of gcloud-tasks-emulator; when set, plain gRPC and the "
            "queue is created if missing."),
    Setting("TASKS_DISPATCH_DEADLINE_SECONDS", "600", "How long Cloud Tasks waits for one stage (15-1800); at "
            "most the pipeline function's timeout, at least the slowest stage."),
    Setting("QUEUE_WORKERS", "32", "Worker threads of the in-process stage queue (local mode); stages mostly "
            "wait on models, so more workers than cores is right."),
    Setting("JOB_MAX_ATTEMPTS", "3", "Attempts one stage of an async job gets before the job fails."),
    Setting("JOB_TIMEOUT_SECONDS", "1800", "How long an async job may take: a stage task still failing after this "
            "is dropped, and a job past it with no stage running is reported `failed` (`job_timed_out`)."),
    Setting("STAGE_LEASE_SECONDS", "300", "How long a worker owns a running stage; a stage still leased by a "
            "worker that died is taken over after this."),
    Setting("MAX_RESULT_ROWS", "1000", "Rows of a query result returned and charted; more sets `truncated`."),
    Setting("MAX_RESULT_BYTES", str(1024 * 1024), "About how many bytes of JSON a query result may hold; rows past "
            "it are left out and the table says `truncated` (its `limits` lists `bytes`)."),
    Setting("MAX_CELL_CHARS", "2000", "Longest text cell returned; longer ones are cut and end with `…` (`limits` "
            "lists `cells`)."),
    Setting("RESULT_STATS", "true", "Compute summary statistics of every answer's whole result in one more "
            "statement over the query (row count; per measure total, min, max and where, mean, median, largest "
            "groups and their shares; first, last and trend over time; distinct counts), under the query's own "
            "guard, limits and timeout. The analyzer is given them and `verified` rests on them; a failure "
            "leaves the answer intact (`true`/`false`)."),
    Setting("RESULT_STATS_TOP_GROUPS", "5", "Largest groups of a result whose values and shares of the total the "
            "statistics list, for each of the first two measures (0-20)."),
    Setting("RESULT_STATS_MAX_COLUMNS", "8", "Most measures, and most dimensions, of a result the statistics "
            "describe (1-40): bounds the statement whatever the result's width."),
    Setting("SQL_MAX_ATTEMPTS", "3", "Tries the manipulator gets to write SQL that runs (the error or the refusal "
            "is fed back; a second refusal ends the question)."),
    Setting("SQL_TIMEOUT_SECONDS", "30", "Statement time limit of one query; past it the query is interrupted and "
            "the answer's `sql_error.code` is `sql_timeout`."),
    Setting("SQL_MEMORY_MB", "512", "Memory the SQL engine may use for one query (DuckDB `memory_limit`); past it "
            "the query spills to disk or fails with `sql_memory_limit`."),
    Setting("SQL_SPILL_MB", "1024", "Temporary disk one query may spill to (DuckDB `max_temp_directory_size`)."),
    Setting("SQL_THREADS", "2", "Threads the SQL engine uses for one query."),
    Setting("SQL_WORKERS", "2", "Engine worker processes per instance: queries beyond this many at once wait for "
            "a free worker (at most the time limit)."),
    Setting("SQL_WORKER_MEMORY_MB", "2048", "Address-space limit of one engine worker process (engine, Arrow "
            "buffers and Python); a worker past it ends its query with an error and is replaced."),
    Setting("VALUE_LOOKUP_COLUMNS", "8", "Text columns of an uploaded dataset searched, before the SQL is written, for "
            "question words the profile does not know as values (\"for carrier HA\" when HA is not among the "
            "profiled top values); what is found goes to the manipulator as `value_hints`. 0 turns the lookup off."),
    Setting("VALUE_LOOKUP_TERMS", "24", "Most question words and phrases (up to three words) one value lookup "
            "searches for."),
    Setting("VALUE_LOOKUP_TIMEOUT_SECONDS", "5", "Time limit of the value lookup's one statement (at most "
            "SQL_TIMEOUT_SECONDS); past it the question goes on without hints."),
    Setting("CHART_RENDER_TIMEOUT_SECONDS", "5", "Time limit of rendering one chart image (SVG, or PNG from it) in "
            "a render worker; past it the worker is killed and replaced, and the image request gets 422 "
            "`chart_render_timeout`."),
    Setting("CHART_RENDER_MEMORY_MB", "1024", "Memory one render worker process may commit (its data-segment "
            "limit, RLIMIT_DATA: V8 reserves far more address space than it uses); at least 768. A render past it "
            "ends with 422 `chart_render_crashed` and the worker is replaced."),
    Setting("CHART_RENDER_WORKERS", "1", "Render worker processes per instance, started on the first image "
            "request; more renders at once wait for a free worker (at most the time limit, then 503 "
            "`chart_render_busy`)."),
    Setting("CHART_CURRENCY", "$", "Currency symbol charts put on measures whose label names money (revenue, "
            "price, cost, sales, amount...) without naming its currency; a label that names one (`$`, `€`, `EUR`, "
            "`£`, `GBP`, `¥`, `JPY`) gets its own. A symbol of at most 3 characters, or an ISO code among USD, EUR, "
            "GBP, JPY; empty: such measures get thousands separators and two decimals, no symbol."),
    Setting("FERNET_KEY", "", "Keys that encrypt stored database passwords (Fernet, url-safe base64 of 32 bytes), "
            "comma-separated: the first encrypts, every one decrypts, so a key is rotated by putting the new one "
            "first. In the cloud it comes from Secret Manager as a secret environment variable. Empty in local mode: "
            "a key generated once into `LOCAL_STATE_DIR/fernet.key` (0600); elsewhere passwords cannot be stored."),
    Setting("SOURCES_ALLOW_PRIVATE_HOSTS", "false", "Let PostgreSQL connections reach private, loopback and "
            "link-local addresses (`true`/`false`). Local mode only (`make dev` turns it on for its own "
            "PostgreSQL); refused with DEPLOYMENT_MODE cloud or hybrid. Metadata addresses stay refused."),
    Setting("SOURCE_CONNECT_TIMEOUT_SECONDS", "5", "Time limit of connecting to a tenant's PostgreSQL (TCP, TLS and "
            "sign-in); past it the request gets 503 `source_unavailable` with `Retry-After`."),
    Setting("SOURCE_STATEMENT_TIMEOUT_SECONDS", "30", "`statement_timeout` of every statement run on a tenant's "
            "PostgreSQL (questions, custom SQL, catalog reads); writes get twice as long. Past it: "
            "`sql_timeout`."),
    Setting("SOURCE_PULL_MAX_ROWS", "1000000", "Most rows pulled from one linked PostgreSQL table when a question "
            "joins it with uploaded datasets (after pushed-down filters); past it the question gets "
            "`sql_error.code` `source_pull_too_large`."),
    Setting("SOURCE_WRITE_MAX_ROWS", "1000000", "Most rows one table write (create from a dataset, replace, append) "
            "may carry; more is refused with 413 `too_many_rows` before anything is written."),
    Setting("SOURCE_SCHEMA_CACHE_SECONDS", "300", "How long a connection's table list is served from the cache "
            "(Redis); `?refresh=true` or a refresh of the links reads the catalog again."),
    Setting("SOURCE_WORKERS", "2", "Worker processes per instance that run SQL on tenants' PostgreSQL and receive "
            "its results; more queries at once wait for a free worker (at most the statement limit)."),
    Setting("SOURCE_WORKER_MEMORY_MB", "1024", "Address-space limit of one PostgreSQL worker process: a result or "
            "pull that needs more ends with `sql_memory_limit` and the worker is replaced. At least 256."),
    Setting("EXPORT_MAX_TURNS", "100", "Most turns one PDF export of a session holds; a longer session is exported "
            "in part (its first turns, or the ones asked for) and the PDF says so on its title page."),
    Setting("EXPORT_MAX_PAGES", "200", "Most pages of one PDF export; the export stops before the page past it and "
            "says so on its title page."),
    Setting("EXPORT_TABLE_ROWS", "20", "Rows of each result table printed in a PDF export (with \"N of M rows\")."),
    Setting("EXPORT_TIME_LIMIT_SECONDS", "30", "Time one PDF export may take (charts and pages); no new turn is "
            "started past it, and the PDF says it stops there."),
    Setting("PROMPTS_CHECK_SECONDS", "1", "How often each process checks Redis for prompt edits made anywhere (the "
            "generation `ci:v1:prompts:generation`); with Redis down or unset it reads the document store again "
            "every 5 times this instead. An edit takes effect everywhere within about this long."),
    Setting("MCP_API_BASE_URL", "", "Origin of the public API the `mcp` function calls with its caller's API key "
            "(e.g. `https://api.example.com`; every tool is an HTTP call to it, so rate limits and tenant isolation "
            "are the API's own). Empty: PUBLIC_BASE_URL (`make dev` sets it to the emulator's own address); with "
            "both empty the `mcp` function answers 500 `config_error`."),
    Setting("MCP_API_TIMEOUT_SECONDS", "120", "Time the `mcp` function waits for one answer of the API (a "
            "question answered in full, at most); past it the tool call fails with `api_timeout`. Keep it under "
            "the function's timeout."),
    Setting("MCP_API_CONNECT_TIMEOUT_SECONDS", "5", "Time the `mcp` function waits to connect to the API; past it "
            "the tool call fails with `api_unavailable`."),
    Setting("MCP_MAX_ROWS", "50", "Most rows of a result table the `mcp` function hands to the model (`ask`, "
            "`run_sql`, a session's turns); the table then says `truncated` and keeps the full `row_count`. 1-1000."),
    Setting("PORT", "8080", "Port of the local emulator (`make dev`)."),
    Setting("LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING, ERROR."),
    Setting("METRICS_ENABLED", "false", "Record metrics and serve them, summed over every instance, as Prometheus "
            "text at `GET /api/v1/metrics` (`true`/`false`). `false`: nothing is recorded or written to Redis and "
            "the route answers 404 `metrics_disabled`."),
    Setting("METRICS_TOKEN", "", "Bearer token a scraper sends (`Authorization: Bearer <token>`) to read "
            "`/api/v1/metrics` without an administrator's identity; compared in constant time, never logged. In the "
            "cloud it comes from Secret Manager as a secret environment variable. Empty: administrators only."),
    Setting("METRICS_FLUSH_SECONDS", "10", "How often, at most, each process adds what it recorded to the totals in "
            "Redis, at the end of a request (no background thread); 0 after every request. 0-3600."),
)

# shared/convoinsight/settings.py -> repository root; Cloud Build copies prompts/ beside the package.
def _default_prompts_dir() -> Path:
    """``prompts/`` beside the package: a function bundle's root (terraform/package.sh puts it next to
    ``convoinsight/``), or the repository's root (``shared/convoinsight`` is one level deeper)."""
    here = Path(__file__).resolve()
    candidates = (here.parents[1] / "prompts", here.parents[2] / "prompts")
    return next((path for path in candidates if path.is_dir()), candidates[-1])


DEFAULT_PROMPTS_DIR = _default_prompts_dir()

PRESETS = {
    "local": ("local", "postgres", "inprocess"),
    "cloud": ("gcs", "firestore", "cloudtasks"),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


MAX_FALLBACK_MODELS = 10  # per agent, as a prompt's own list (llm/prompt_checks.py)


@dataclass(frozen=True)
class Settings:
    deployment_mode: str
    blob_backend: str
    document_backend: str
    queue_backend: str
    local_state_dir: Path
    postgres_url: str
    redis_url: str
    cache_enabled: bool
    gcp_project_id: str
    gcs_bucket: str
    gcs_signing_key_file: str
    cors_origins: tuple[str, ...]
    public_base_url: str
    link_token_seconds: int
    auth_mode: str
    firebase_project_id: str
    firebase_certs_url: str
    llm_model: str
    llm_api_base: str
    llm_api_key: str
    prompts_dir: Path
    llm_timeout_seconds: float
    llm_preload: str
    llm_max_retries: int
    llm_fallback_models: tuple[tuple[str, tuple[str, ...]], ...]  # (agent or "*", models); see fallback_models()
    llm_chain_timeout_seconds: float
    provider_env: tuple[str, ...]  # providers with litellm's <PROVIDER>_API_KEY or _API_BASE set: names only
    llm_breaker_threshold: int
    llm_breaker_cooldown_seconds: int
    daily_token_budget: int
    budget_fail_open: bool
    budget_counts_user_keys: bool
    rate_limit_enabled: bool
    rate_limits: tuple[tuple[str, int, int], ...]  # (class, requests, window seconds); a tuple keeps Settings hashable
    rate_limit_fail_open: bool
    trusted_proxy_hops: int
    max_upload_bytes: int
    max_signed_upload_bytes: int
    max_dataset_rows: int
    max_dataset_columns: int
    max_nesting_depth: int
    ingest_timeout_seconds: float
    ingest_memory_mb: int
    ingest_workers: int
    signed_url_seconds: int
    tasks_location: str
    tasks_queue: str
    tasks_target_url: str
    tasks_service_account: str
    tasks_audience: str
    cloud_tasks_emulator_host: str
    tasks_dispatch_deadline_seconds: int
    queue_workers: int
    job_max_attempts: int
    job_timeout_seconds: int
    stage_lease_seconds: int
    max_result_rows: int
    max_result_bytes: int
    max_cell_chars: int
    result_stats: bool
    result_stats_top_groups: int
    result_stats_max_columns: int
    sql_max_attempts: int
    sql_timeout_seconds: float
    sql_memory_mb: int
    sql_spill_mb: int
    sql_threads: int
    sql_workers: int
    sql_worker_memory_mb: int
    value_lookup_columns: int
    value_lookup_terms: int
    value_lookup_timeout_seconds: float
    chart_render_timeout_seconds: float
    chart_render_memory_mb: int
    chart_render_workers: int
    chart_currency: str
    fernet_keys: tuple[str, ...]
    sources_allow_private_hosts: bool
    source_connect_timeout_seconds: float
    source_statement_timeout_seconds: float
    source_pull_max_rows: int
    source_write_max_rows: int
    source_schema_cache_seconds: int
    source_workers: int
    source_worker_memory_mb: int
    export_max_turns: int
    export_max_pages: int
    export_table_rows: int
    export_time_limit_seconds: float
    prompts_check_seconds: float
    mcp_api_base_url: str
    mcp_api_timeout_seconds: float
    mcp_api_connect_timeout_seconds: float
    mcp_max_rows: int
    port: int
    log_level: str
    metrics_enabled: bool
    metrics_token: str
    metrics_flush_seconds: int

    def fallback_models(self, agent: str, shipped: tuple[str, ...]) -> tuple[str, ...]:
        """The fallback models of ``agent``: LLM_FALLBACK_MODELS' entry for it > its entry for every agent > the
        prompt's own list (``shipped``)."""
        configured = dict(self.llm_fallback_models)
        if agent in configured:
            return configured[agent]
        return configured.get("*", shipped)

    def __hash__(self) -> int:
        # Settings key the process's lru caches (get_services and others, several times a request): the
        # hash of ~100 fields is worked out once. Explicit, so the dataclass keeps it; equality is unchanged.
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        # The cached hash holds for this process only (str hashes are salted per process): a pickled copy
        # works its own out.
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        if shown["llm_api_key"]:
            shown["llm_api_key"] = "***"
        shown["fernet_keys"] = tuple("***" for _ in shown["fernet_keys"])
        if shown["metrics_token"]:
            shown["metrics_token"] = "***"  # noqa: S105 - the mask, not a token
        for name in ("postgres_url", "redis_url"):
            shown[name] = _mask_url(shown[name])
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def _mask_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _base_url(raw: str, name: str = "PUBLIC_BASE_URL") -> str:
    """PUBLIC_BASE_URL (or MCP_API_BASE_URL): an http(s) origin, optionally with a path prefix; no query, no
    fragment, no trailing /."""
    raw = raw.strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be an http(s) URL such as https://api.example.com, not {raw!r}")
    return raw.rstrip("/")


_CURRENCY_CODES = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def _currency(raw: str) -> str:
    """CHART_CURRENCY as the symbol drawn: an ISO code becomes its symbol; anything else must be a short symbol."""
    value = raw.strip()
    if value.upper() in _CURRENCY_CODES:
        return _CURRENCY_CODES[value.upper()]
    if len(value) > 3 or any(c.isdigit() or c in "%,.#" for c in value):
        raise ConfigError(f"CHART_CURRENCY must be a currency symbol of at most 3 characters (or USD, EUR, GBP, "
                          f"JPY), not {raw!r}")
    return value


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}")
    return value


def _positive(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number")
    return value


_RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def _provider_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """The providers whose litellm variables (``DEEPSEEK_API_KEY``, ``XAI_API_BASE``, ...) are set: a fallback
    model of one of them can be called on the deployment's behalf. Only the names are kept, never a value."""
    found = set()
    for name, value in env.items():
        for suffix in ("_API_KEY", "_API_BASE"):
            if name.endswith(suffix) and value.strip() and not name.startswith("LLM_"):
                found.add(name[:-len(suffix)].lower())
    return tuple(sorted(found))


def _fallback_models(raw: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """LLM_FALLBACK_MODELS as ((agent or "*", models), ...): entries split by ``;``, models by ``,`` or ``|``.

    Refused at start with every problem named, so a typo never silently leaves an agent without fallbacks."""
    if not raw:
        return ()
    from convoinsight.llm.catalog import fallback_problem  # light: no litellm, no price map
    from convoinsight.llm.prompts import AGENTS

    parsed: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for entry in (part.strip() for part in raw.split(";")):
        if not entry:
            continue
        agent, sep, names = entry.partition("=")
        agent = agent.strip().lower() if sep else "*"
        names = names if sep else entry
        if sep and agent not in AGENTS:
            problems.append(f"unknown agent {agent!r} (agents: {', '.join(AGENTS)})")
            continue
        if agent in parsed:
            problems.append("every agent for the second time" if agent == "*" else f"{agent!r} for the second time")
            continue
        models = [m.strip() for m in names.replace("|", ",").split(",") if m.strip()]
        if [m.lower() for m in models] == ["none"]:
            models = []
        elif not models:
            problems.append(f"no model for {agent!r}" if sep else "an empty entry")
        for model in models:
            problem = fallback_problem(model)
            if problem:
                problems.append(problem)
        if len(models) > MAX_FALLBACK_MODELS:
            problems.append(f"more than {MAX_FALLBACK_MODELS} models for {'every agent' if agent == '*' else agent}")
        parsed[agent] = tuple(models)
    if problems:
        raise ConfigError("LLM_FALLBACK_MODELS is invalid: " + "; ".join(problems)
                          + ". Expected e.g. `deepseek/deepseek-chat,openrouter/openai/gpt-4o-mini` or "
                          "`analyzer=deepseek/deepseek-chat|xai/grok-3-mini;compiler=none`")
    return tuple(parsed.items())


def _rate_limits(raw: str) -> tuple[tuple[str, int, int], ...]:
    """RATE_LIMITS over its own default: the default string is the one list of classes, so a typo fails loudly."""
    def parse(text: str) -> dict[str, tuple[int, int]]:
        limits: dict[str, tuple[int, int]] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            cls, _, rate = item.partition("=")
            count, _, unit = rate.partition("/")
            cls, count, unit = cls.strip(), count.strip(), unit.strip().lower()
            if not cls or not (count.isascii() and count.isdigit()) or int(count) < 1 or unit not in _RATE_UNITS:
                raise ConfigError(f"RATE_LIMITS entry {item!r} must look like class=count/unit with a count of at "
                                  f"least 1 and a unit of {', '.join(_RATE_UNITS)}")
            if cls in limits:
                raise ConfigError(f"RATE_LIMITS names {cls!r} twice")
            limits[cls] = (int(count), _RATE_UNITS[unit])
        return limits

    defaults = parse(next(s.default for s in SETTINGS if s.name == "RATE_LIMITS"))
    given = parse(raw)
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"RATE_LIMITS names unknown class(es) {', '.join(unknown)}; known: {', '.join(defaults)}")
    return tuple((cls, *given.get(cls, limit)) for cls, limit in defaults.items())


def _refuse_local_defaults_on_google_cloud(env: Mapping[str, str]) -> None:
    """Cloud Run and Cloud Functions (gen2) set K_SERVICE. There the defaults (local mode, identity taken from
    the X-User-Id header) would let anyone act as anyone: refuse to start until the mode is chosen."""
    service = env.get("K_SERVICE", "").strip()
    if not service:
        return
    unset = [name for name in ("DEPLOYMENT_MODE", "AUTH_MODE") if not env.get(name, "").strip()]
    if unset:
        raise ConfigError(f"running on Google Cloud (K_SERVICE={service!r}) with {' and '.join(unset)} unset, whose "
                          "defaults are local mode trusting the X-User-Id header: set DEPLOYMENT_MODE=cloud (or "
                          "hybrid) and AUTH_MODE=firebase or AUTH_MODE=apikey")
    if env["AUTH_MODE"].strip().lower() == "dev":
        raise ConfigError(f"AUTH_MODE=dev trusts the X-User-Id header and is refused on Google Cloud (K_SERVICE="
                          f"{service!r}); set AUTH_MODE=firebase or AUTH_MODE=apikey")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from ``env`` (default ``os.environ``), falling back to defaults.

    Raises ConfigError naming the setting when a value is invalid or when the
    combination is unsafe (``AUTH_MODE=dev`` outside local mode, or on Cloud Run / Cloud Functions, which
    set ``K_SERVICE``, with ``DEPLOYMENT_MODE`` or ``AUTH_MODE`` left to their local defaults).
    """
    env = os.environ if env is None else env
    _refuse_local_defaults_on_google_cloud(env)
    raw: dict[str, str] = {}
    for s in SETTINGS:
        value = env.get(s.name, s.default).strip()
        if s.choices and value.lower() not in s.choices:
            allowed = ", ".join(c for c in s.choices if c)
            raise ConfigError(f"{s.name}={value!r} is not supported; choose one of: {allowed}")
        raw[s.name] = value.lower() if s.choices else value

    mode = raw["DEPLOYMENT_MODE"]
    preset = PRESETS.get(mode, ("", "", ""))
    blob = raw["BLOB_BACKEND"] or preset[0]
    docs = raw["DOCUMENT_BACKEND"] or preset[1]
    queue = raw["QUEUE_BACKEND"] or preset[2]
    if mode == "hybrid" and not (blob and docs and queue):
        raise ConfigError("DEPLOYMENT_MODE=hybrid needs BLOB_BACKEND, DOCUMENT_BACKEND and QUEUE_BACKEND")
    if raw["AUTH_MODE"] == "dev" and mode != "local":
        raise ConfigError("AUTH_MODE=dev trusts a header and is allowed only with DEPLOYMENT_MODE=local")
    firebase_project = raw["FIREBASE_PROJECT_ID"] or raw["GCP_PROJECT_ID"]
    if raw["AUTH_MODE"] == "firebase" and not firebase_project:
        raise ConfigError("AUTH_MODE=firebase needs FIREBASE_PROJECT_ID (or GCP_PROJECT_ID): tokens are checked "
                          "against that project")

    timeout = _positive("LLM_TIMEOUT_SECONDS", raw["LLM_TIMEOUT_SECONDS"])
    if _int("SQL_WORKER_MEMORY_MB", raw["SQL_WORKER_MEMORY_MB"], 256) < _int("SQL_MEMORY_MB", raw["SQL_MEMORY_MB"],
                                                                                 64) + 256:
        raise ConfigError("SQL_WORKER_MEMORY_MB must be at least SQL_MEMORY_MB + 256 (the engine lives inside the "
                          "worker)")

    chain_timeout = _positive("LLM_CHAIN_TIMEOUT_SECONDS", raw["LLM_CHAIN_TIMEOUT_SECONDS"])
    deadline = _int("TASKS_DISPATCH_DEADLINE_SECONDS", raw["TASKS_DISPATCH_DEADLINE_SECONDS"], 15)
    if chain_timeout > deadline:
        raise ConfigError(f"LLM_CHAIN_TIMEOUT_SECONDS={raw['LLM_CHAIN_TIMEOUT_SECONDS']} is longer than "
                          f"TASKS_DISPATCH_DEADLINE_SECONDS={deadline}: a stage still waiting on its models then "
                          "would be sent again")

    allow_private = _bool("SOURCES_ALLOW_PRIVATE_HOSTS", raw["SOURCES_ALLOW_PRIVATE_HOSTS"])
    if allow_private and mode != "local":
        raise ConfigError("SOURCES_ALLOW_PRIVATE_HOSTS=true lets tenants reach private networks and is allowed only "
                          "with DEPLOYMENT_MODE=local")

    return Settings(
        deployment_mode=mode,
        blob_backend=blob,
        document_backend=docs,
        queue_backend=queue,
        local_state_dir=Path(raw["LOCAL_STATE_DIR"]).expanduser(),
        postgres_url=raw["POSTGRES_URL"],
        redis_url=raw["REDIS_URL"],
        cache_enabled=_bool("CACHE_ENABLED", raw["CACHE_ENABLED"]),
        gcp_project_id=raw["GCP_PROJECT_ID"],
        gcs_bucket=raw["GCS_BUCKET"],
        gcs_signing_key_file=raw["GCS_SIGNING_KEY_FILE"],
        cors_origins=tuple(o.strip() for o in raw["CORS_ORIGINS"].split(",") if o.strip()),
        public_base_url=_base_url(raw["PUBLIC_BASE_URL"]),
        link_token_seconds=_int("LINK_TOKEN_SECONDS", raw["LINK_TOKEN_SECONDS"], 30, 600),
        auth_mode=raw["AUTH_MODE"],
        firebase_project_id=firebase_project,
        firebase_certs_url=raw["FIREBASE_CERTS_URL"],
        llm_model=raw["LLM_MODEL"],
        llm_api_base=raw["LLM_API_BASE"],
        llm_api_key=raw["LLM_API_KEY"],
        prompts_dir=Path(raw["PROMPTS_DIR"]) if raw["PROMPTS_DIR"] else DEFAULT_PROMPTS_DIR,
        llm_timeout_seconds=timeout,
        llm_preload=raw["LLM_PRELOAD"],
        llm_max_retries=_int("LLM_MAX_RETRIES", raw["LLM_MAX_RETRIES"], 0),
        llm_fallback_models=_fallback_models(raw["LLM_FALLBACK_MODELS"]),
        llm_chain_timeout_seconds=chain_timeout,
        provider_env=_provider_env(env),
        llm_breaker_threshold=_int("LLM_BREAKER_THRESHOLD", raw["LLM_BREAKER_THRESHOLD"], 0),
        llm_breaker_cooldown_seconds=_int("LLM_BREAKER_COOLDOWN_SECONDS", raw["LLM_BREAKER_COOLDOWN_SECONDS"], 1),
        daily_token_budget=_int("DAILY_TOKEN_BUDGET", raw["DAILY_TOKEN_BUDGET"], 0),
        budget_fail_open=_bool("BUDGET_FAIL_OPEN", raw["BUDGET_FAIL_OPEN"]),
        budget_counts_user_keys=_bool("BUDGET_COUNTS_USER_KEYS", raw["BUDGET_COUNTS_USER_KEYS"]),
        rate_limit_enabled=_bool("RATE_LIMIT_ENABLED", raw["RATE_LIMIT_ENABLED"]),
        rate_limits=_rate_limits(raw["RATE_LIMITS"]),
        rate_limit_fail_open=_bool("RATE_LIMIT_FAIL_OPEN", raw["RATE_LIMIT_FAIL_OPEN"]),
        trusted_proxy_hops=_int("TRUSTED_PROXY_HOPS", raw["TRUSTED_PROXY_HOPS"], 0),
        max_upload_bytes=_int("MAX_UPLOAD_BYTES", raw["MAX_UPLOAD_BYTES"], 1),
        max_signed_upload_bytes=_int("MAX_SIGNED_UPLOAD_BYTES", raw["MAX_SIGNED_UPLOAD_BYTES"], 1),
        max_dataset_rows=_int("MAX_DATASET_ROWS", raw["MAX_DATASET_ROWS"], 1),
        max_dataset_columns=_int("MAX_DATASET_COLUMNS", raw["MAX_DATASET_COLUMNS"], 1),
        max_nesting_depth=_int("MAX_NESTING_DEPTH", raw["MAX_NESTING_DEPTH"], 1, 64),
        ingest_timeout_seconds=_positive("INGEST_TIMEOUT_SECONDS", raw["INGEST_TIMEOUT_SECONDS"]),
        ingest_memory_mb=_int("INGEST_MEMORY_MB", raw["INGEST_MEMORY_MB"], 256),
        ingest_workers=_int("INGEST_WORKERS", raw["INGEST_WORKERS"], 1),
        signed_url_seconds=_int("SIGNED_URL_SECONDS", raw["SIGNED_URL_SECONDS"], 60),
        tasks_location=raw["TASKS_LOCATION"],
        tasks_queue=raw["TASKS_QUEUE"],
        tasks_target_url=raw["TASKS_TARGET_URL"],
        tasks_service_account=raw["TASKS_SERVICE_ACCOUNT"],
        tasks_audience=raw["TASKS_AUDIENCE"],
        cloud_tasks_emulator_host=raw["CLOUD_TASKS_EMULATOR_HOST"],
        tasks_dispatch_deadline_seconds=_int("TASKS_DISPATCH_DEADLINE_SECONDS",
                                             raw["TASKS_DISPATCH_DEADLINE_SECONDS"], 15),
        queue_workers=_int("QUEUE_WORKERS", raw["QUEUE_WORKERS"], 1),
        job_max_attempts=_int("JOB_MAX_ATTEMPTS", raw["JOB_MAX_ATTEMPTS"], 1),
        job_timeout_seconds=_int("JOB_TIMEOUT_SECONDS", raw["JOB_TIMEOUT_SECONDS"], 1),
        stage_lease_seconds=_int("STAGE_LEASE_SECONDS", raw["STAGE_LEASE_SECONDS"], 1),
        max_result_rows=_int("MAX_RESULT_ROWS", raw["MAX_RESULT_ROWS"], 1),
        max_result_bytes=_int("MAX_RESULT_BYTES", raw["MAX_RESULT_BYTES"], 1024),
        max_cell_chars=_int("MAX_CELL_CHARS", raw["MAX_CELL_CHARS"], 16),
        result_stats=_bool("RESULT_STATS", raw["RESULT_STATS"]),
        result_stats_top_groups=_int("RESULT_STATS_TOP_GROUPS", raw["RESULT_STATS_TOP_GROUPS"], 0, 20),
        result_stats_max_columns=_int("RESULT_STATS_MAX_COLUMNS", raw["RESULT_STATS_MAX_COLUMNS"], 1, 40),
        sql_max_attempts=_int("SQL_MAX_ATTEMPTS", raw["SQL_MAX_ATTEMPTS"], 1),
        sql_timeout_seconds=_positive("SQL_TIMEOUT_SECONDS", raw["SQL_TIMEOUT_SECONDS"]),
        sql_memory_mb=_int("SQL_MEMORY_MB", raw["SQL_MEMORY_MB"], 64),
        sql_spill_mb=_int("SQL_SPILL_MB", raw["SQL_SPILL_MB"], 0),
        sql_threads=_int("SQL_THREADS", raw["SQL_THREADS"], 1),
        sql_workers=_int("SQL_WORKERS", raw["SQL_WORKERS"], 1),
        sql_worker_memory_mb=_int("SQL_WORKER_MEMORY_MB", raw["SQL_WORKER_MEMORY_MB"], 256),
        value_lookup_columns=_int("VALUE_LOOKUP_COLUMNS", raw["VALUE_LOOKUP_COLUMNS"], 0, 64),
        value_lookup_terms=_int("VALUE_LOOKUP_TERMS", raw["VALUE_LOOKUP_TERMS"], 1, 200),
        value_lookup_timeout_seconds=_positive("VALUE_LOOKUP_TIMEOUT_SECONDS", raw["VALUE_LOOKUP_TIMEOUT_SECONDS"]),
        chart_render_timeout_seconds=_positive("CHART_RENDER_TIMEOUT_SECONDS", raw["CHART_RENDER_TIMEOUT_SECONDS"]),
        chart_render_memory_mb=_int("CHART_RENDER_MEMORY_MB", raw["CHART_RENDER_MEMORY_MB"], 768),
        chart_render_workers=_int("CHART_RENDER_WORKERS", raw["CHART_RENDER_WORKERS"], 1),
        chart_currency=_currency(raw["CHART_CURRENCY"]),
        fernet_keys=tuple(k.strip() for k in raw["FERNET_KEY"].split(",") if k.strip()),
        sources_allow_private_hosts=allow_private,
        source_connect_timeout_seconds=_positive("SOURCE_CONNECT_TIMEOUT_SECONDS",
                                                 raw["SOURCE_CONNECT_TIMEOUT_SECONDS"]),
        source_statement_timeout_seconds=_positive("SOURCE_STATEMENT_TIMEOUT_SECONDS",
                                                   raw["SOURCE_STATEMENT_TIMEOUT_SECONDS"]),
        source_pull_max_rows=_int("SOURCE_PULL_MAX_ROWS", raw["SOURCE_PULL_MAX_ROWS"], 1),
        source_write_max_rows=_int("SOURCE_WRITE_MAX_ROWS", raw["SOURCE_WRITE_MAX_ROWS"], 1),
        source_schema_cache_seconds=_int("SOURCE_SCHEMA_CACHE_SECONDS", raw["SOURCE_SCHEMA_CACHE_SECONDS"], 0),
        source_workers=_int("SOURCE_WORKERS", raw["SOURCE_WORKERS"], 1),
        source_worker_memory_mb=_int("SOURCE_WORKER_MEMORY_MB", raw["SOURCE_WORKER_MEMORY_MB"], 256),
        export_max_turns=_int("EXPORT_MAX_TURNS", raw["EXPORT_MAX_TURNS"], 1),
        export_max_pages=_int("EXPORT_MAX_PAGES", raw["EXPORT_MAX_PAGES"], 2),
        export_table_rows=_int("EXPORT_TABLE_ROWS", raw["EXPORT_TABLE_ROWS"], 1),
        export_time_limit_seconds=_positive("EXPORT_TIME_LIMIT_SECONDS", raw["EXPORT_TIME_LIMIT_SECONDS"]),
        prompts_check_seconds=_positive("PROMPTS_CHECK_SECONDS", raw["PROMPTS_CHECK_SECONDS"]),
        mcp_api_base_url=_base_url(raw["MCP_API_BASE_URL"], "MCP_API_BASE_URL"),
        mcp_api_timeout_seconds=_positive("MCP_API_TIMEOUT_SECONDS", raw["MCP_API_TIMEOUT_SECONDS"]),
        mcp_api_connect_timeout_seconds=_positive("MCP_API_CONNECT_TIMEOUT_SECONDS",
                                                  raw["MCP_API_CONNECT_TIMEOUT_SECONDS"]),
        mcp_max_rows=_int("MCP_MAX_ROWS", raw["MCP_MAX_ROWS"], 1, 1000),
        port=_int("PORT", raw["PORT"], 1),
        log_level=raw["LOG_LEVEL"].upper(),
        metrics_enabled=_bool("METRICS_ENABLED", raw["METRICS_ENABLED"]),
        metrics_token=raw["METRICS_TOKEN"],
        metrics_flush_seconds=_int("METRICS_FLUSH_SECONDS", raw["METRICS_FLUSH_SECONDS"], 0, 3600),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (tests call ``get_settings.cache_clear()``)."""
    return load_settings()
