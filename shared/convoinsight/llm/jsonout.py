"""Extract and validate the JSON object a model was asked for."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> dict[str, Any]:
    """Parse the model's reply: a bare object, or one inside a ``` fence or surrounding prose."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text or "")]
    start, end = (text or "").find("{"), (text or "").rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the reply is not a JSON object")


def validate(value: dict[str, Any], schema: dict[str, Any]) -> None:
    """Raise ValueError with the first schema violation, in words a model can act on."""
    import jsonschema  # imported lazily: only functions that call models need it

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the object"
        raise ValueError(f"{where}: {exc.message}") from None
