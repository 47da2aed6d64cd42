"""Small helpers for asserting on function responses."""

from __future__ import annotations


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def assert_error(resp, status: int, code: str) -> dict:
    """The one JSON error shape, with the expected status and code, and the request id echoed."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code and error["message"] and error["request_id"] == resp.headers["X-Request-Id"]
    return error
