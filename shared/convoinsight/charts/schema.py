"""Validate a model's Vega-Lite spec against the official JSON schema of the version we render with.

The schema is vendored (``vega-lite-v6.4.1.schema.json.gz``, see README.md in this folder): no
network and no runtime dependency on altair. vl-convert 1.9 bundles Vega-Lite 5.8 ... 6.4 and
defaults to the newest, 6.4 (6.4.1 inside its bundle), so validation and rendering both pin 6.4.

Measured (median of 7, jsonschema 4.26, full ``TopLevelSpec`` validation): 0.5-1.5 ms per
typical spec, about 55 ms once per process to import jsonschema and load the schema. That is far
under the 20 ms budget, so we validate against the whole schema rather than a hand-picked subschema.
jsonschema is imported lazily: a function's import must stay light (tests/unit/test_cold_start.py).
"""

from __future__ import annotations

import gzip
import json
import threading
from importlib import resources
from typing import Any

VEGA_LITE_VERSION = "6.4"  # the vl_version handed to vl-convert
SCHEMA_VERSION = "v6.4.1"
SCHEMA_URL = f"https://vega.github.io/schema/vega-lite/{SCHEMA_VERSION}.json"
SCHEMA_FILE = f"vega-lite-{SCHEMA_VERSION}.schema.json.gz"
# The model's spec carries no data (the server binds it) but unit and facet specs require one.
_PLACEHOLDER_DATA = {"values": []}
_MAX_REASON = 300

_lock = threading.Lock()
_validator: Any = None


def validator() -> Any:
    """The compiled validator, built once per process on first use (the schema is 1.9 MB of JSON)."""
    global _validator
    if _validator is None:
        with _lock:
            if _validator is None:
                from jsonschema.validators import validator_for

                raw = resources.files(__package__).joinpath(SCHEMA_FILE).read_bytes()
                schema = json.loads(gzip.decompress(raw))
                # Draft-07 by the schema's own $schema; no check_schema(): the vendored file is official.
                _validator = validator_for(schema)(schema)
    return _validator


def validate_spec(spec: dict[str, Any]) -> None:
    """Raise ValueError saying why ``spec`` is not a valid Vega-Lite spec; return None when it is."""
    from jsonschema.exceptions import best_match

    candidate = spec if "data" in spec else {**spec, "data": _PLACEHOLDER_DATA}
    error = best_match(validator().iter_errors(candidate))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message if len(error.message) <= _MAX_REASON else error.message[:_MAX_REASON] + "…"
    raise ValueError(f"not a valid Vega-Lite {SCHEMA_VERSION} spec at {where}: {message}")
