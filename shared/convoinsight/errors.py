"""One exception hierarchy; the meaning (status, code, retryable) lives on the class.

Every error a request can meet is a ``ConvoInsightError``. The web layer renders
any of them to the single JSON shape
``{"error": {"code", "message", "request_id"}}`` with the class's status.
Retryable errors map to 5xx so that Cloud Tasks (and clients) try again;
permanent ones are 4xx.
"""

from __future__ import annotations


class ConvoInsightError(Exception):
    status = 500
    code = "internal_error"
    retryable = False
    retry_after: int | None = None

    def __init__(self, message: str = "", *, code: str | None = None, details: dict | None = None):
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        if code:
            self.code = code
        self.details = details or {}


class BadRequest(ConvoInsightError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class Unauthenticated(ConvoInsightError):
    """No valid identity was given."""

    status = 401
    code = "unauthenticated"


class Forbidden(ConvoInsightError):
    """The identity may not do this."""

    status = 403
    code = "forbidden"


class NotFound(ConvoInsightError):
    """The thing does not exist (or belongs to someone else)."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ConvoInsightError):
    """This route does not take that method."""

    status = 405
    code = "method_not_allowed"


class Conflict(ConvoInsightError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ConvoInsightError):
    """The body is larger than allowed."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ConvoInsightError):
    """This type of content is not supported."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(ConvoInsightError):
    """The content is well-formed but cannot be used."""

    status = 422
    code = "unprocessable"


class RateLimited(ConvoInsightError):
    """Too many requests, or a budget is spent; try again after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str = "", *, retry_after: int = 60, code: str | None = None,
                 details: dict | None = None):
        super().__init__(message, code=code, details=details)
        self.retry_after = max(1, int(retry_after))


class SqlRefused(Unprocessable):
    """Generated SQL failed the safety allow-list; it was not run."""

    code = "sql_refused"


class SqlExecutionError(Unprocessable):
    """The SQL passed the guard but failed to execute."""

    code = "sql_execution_error"


class LLMOutputInvalid(ConvoInsightError):
    """The model answered with something that does not fit the agent's contract."""

    status = 502
    code = "llm_output_invalid"
    retryable = True


class ServiceUnavailable(ConvoInsightError):
    """A backend is unreachable; try again shortly."""

    status = 503
    code = "service_unavailable"
    retryable = True
    retry_after = 5


class UpstreamError(ConvoInsightError):
    """A model provider failed."""

    status = 502
    code = "upstream_error"
    retryable = True


class ConfigError(ConvoInsightError):
    """The service is misconfigured."""

    status = 500
    code = "config_error"
