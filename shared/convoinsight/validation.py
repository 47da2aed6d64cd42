"""Validate client input with a pydantic model; any problem becomes one 422 that lists them all."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from convoinsight.errors import Unprocessable

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], data: Any, code: str = "invalid_request") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = problems[0]
        raise Unprocessable(f"{first['field']}: {first['message']}", code=code,
                            details={"problems": problems}) from None
