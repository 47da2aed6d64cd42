"""Structured JSON logs in Cloud Logging's shape, with request context and secret redaction.

Every line is one JSON object on stderr: ``severity``, ``message``, ``time``,
``logging.googleapis.com/trace`` (from ``X-Cloud-Trace-Context`` or
``traceparent``), plus the request's id, user and route, and any fields the
caller adds (``event`` for model calls, cache hits, limits). Request bodies and
cell values are never logged by design; configured secrets are scrubbed from
every line as a second line of defence.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
from typing import Any

_request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("ci_request", default=None)
_configured = threading.Lock()
_done = False
_secrets: list[str] = []
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@/\s]+)(@)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}


def redact(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _BEARER.sub(r"\1***", text)
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class CloudLoggingFormatter(logging.Formatter):
    def __init__(self, project: str = ""):
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        context = _request.get()
        if context:
            trace = context.get("trace")
            if trace:
                entry["logging.googleapis.com/trace"] = f"projects/{self.project}/traces/{trace}" if self.project \
                    else trace
            entry.update({k: v for k, v in context.items() if k != "trace" and v is not None})
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


class _OwnDebugOnly(logging.Filter):
    """Below WARNING only our own loggers speak: libraries log request bodies at DEBUG (the OpenAI client
    logs every prompt, with its sample rows), and a log line is no place for a tenant's data."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith(("convoinsight", "local_emulator"))


def configure(settings) -> None:
    """Once per process: JSON lines on stderr at LOG_LEVEL, and the secrets to scrub."""
    global _done
    with _configured:
        if _done:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(CloudLoggingFormatter(settings.gcp_project_id))
        handler.addFilter(_OwnDebugOnly())
        root = logging.getLogger()
        # Replace plain console handlers (basicConfig's); keep others, e.g. a test runner's capture.
        root.handlers[:] = [h for h in root.handlers if not (isinstance(h, logging.StreamHandler) and getattr(
            h, "stream", None) in (sys.stderr, sys.stdout))] + [handler]
        root.setLevel(settings.log_level)
        _done = True
    add_secrets(settings.llm_api_key, _password(settings.postgres_url), _password(settings.redis_url),
                settings.metrics_token)


def add_secrets(*values: str | None) -> None:
    for value in values:
        if value and len(value) >= 4 and value not in _secrets:
            _secrets.append(value)


def _password(url: str) -> str | None:
    match = _URL_PASSWORD.search(url or "")
    return match.group(2) if match else None


def trace_id(headers) -> str | None:
    cloud = headers.get("X-Cloud-Trace-Context") or ""
    if cloud:
        return cloud.split("/", 1)[0] or None
    parent = headers.get("traceparent") or ""
    parts = parent.split("-")
    return parts[1] if len(parts) >= 3 and len(parts[1]) == 32 else None


def bind(**fields: Any) -> contextvars.Token:
    return _request.set({**(_request.get() or {}), **fields})


def update(**fields: Any) -> None:
    current = _request.get()
    if current is not None:
        current.update(fields)


def current(field: str) -> Any:
    return (_request.get() or {}).get(field)


def reset(token: contextvars.Token) -> None:
    _request.reset(token)


def event(logger: logging.Logger, name: str, message: str = "", level: int = logging.INFO, **fields: Any) -> None:
    """A structured event (model call, cache hit, rate limit...): queryable fields, never payloads."""
    logger.log(level, message or name, extra={"fields": {"event": name, **fields}})
