"""Extract and validate the JSON object a model was asked for."""

from __future__ import annotations

import json
import re
from functools import lru_cache
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

    error = jsonschema.exceptions.best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(value))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the object"
        raise ValueError(f"{where}: {error.message}") from None


@lru_cache(maxsize=256)
def _validator(schema_json: str):
    """One checked validator per schema (by its text: an edited prompt's schema is another one).
    ``jsonschema.validate`` checks the schema against its metaschema at every call: most of a call's cost."""
    import jsonschema

    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)
