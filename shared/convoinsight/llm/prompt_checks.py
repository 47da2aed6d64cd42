"""An operator's prompt, checked before it is stored: what the files must satisfy, and stricter.

A prompt arrives whole, in the shape of ``prompts/<agent>.yaml`` (as a JSON object
or a YAML document). ``problems`` lists everything wrong with it at once, as
``{"field", "message"}`` pairs like every other 422 of the API; nothing is stored
unless the list is empty. A ``version`` in the body is ignored: the server numbers
versions. ``note`` (optional) says what the edit is for.
"""

from __future__ import annotations

import math
import string
from typing import Any

import yaml

from convoinsight.errors import BadRequest, Unprocessable
from convoinsight.llm.prompts import AGENTS, PromptStore

MAX_PROMPT_BYTES = 256 * 1024
MAX_TEXT = 50_000  # characters of the system prompt and of the user template
MAX_DESCRIPTION = 1000
MAX_NOTE = 500
MAX_FALLBACKS = 10
MAX_MODEL = 200
MAX_DEPTH = 64
FIELDS = ("name", "version", "description", "parameters", "system", "user_template", "output_schema",
          "fallbacks", "note")
REQUIRED = ("name", "description", "parameters", "system", "user_template", "output_schema")
EFFORTS = ("low", "medium", "high")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class _NoAliasLoader(yaml.SafeLoader):
    """``yaml.safe_load`` without anchors and aliases: a few hundred bytes of them expand to gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError("while composing a node", None, "aliases (*name) are not accepted",
                                       event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(data: bytes) -> Any:
    """The one YAML document of a body, or a 400 ``invalid_yaml`` that says where it is broken."""
    try:
        text = data.decode("utf-8")
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader (no Python objects)
    except UnicodeDecodeError:
        raise BadRequest("the YAML body must be UTF-8", code="invalid_yaml") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadRequest(f"the body is not one valid YAML document: {problem}{at}"[:500],
                         code="invalid_yaml") from None
    except RecursionError:
        raise BadRequest("the YAML body is nested too deeply", code="invalid_yaml") from None


def checked(data: Any, name: str, files: PromptStore) -> dict[str, Any]:
    """The prompt mapping to store (without a version), or a 422 ``invalid_prompt`` listing every problem."""
    found = problems(data, name, files)
    if found:
        first = found[0]
        raise Unprocessable(f"{first['field'] or 'the prompt'}: {first['message']}", code="invalid_prompt",
                            details={"problems": found})
    return {"name": name, "description": data["description"], "parameters": dict(data["parameters"]),
            "fallbacks": list(data.get("fallbacks") or []), "system": data["system"],
            "user_template": data["user_template"], "output_schema": data["output_schema"]}


def problems(data: Any, name: str, files: PromptStore) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []

    def add(field: str, message: str) -> None:
        out.append({"field": field, "message": message})

    if not isinstance(data, dict):
        add("", "the prompt must be a mapping with the keys of prompts/<agent>.yaml")
        return out
    json_problem = _not_json(data, "", 0)
    if json_problem:
        add(*json_problem)
        return out
    for key in data:
        if key not in FIELDS:
            add(key, f"unknown field; a prompt has {', '.join(FIELDS)}")
    for key in REQUIRED:
        if key not in data:
            add(key, "this field is required")
    if "name" in data and data["name"] != name:
        add("name", f"must be {name!r}, the name in the path (one of {', '.join(AGENTS)})")
    _text(data, "description", MAX_DESCRIPTION, add)
    _text(data, "system", MAX_TEXT, add)
    if _text(data, "user_template", MAX_TEXT, add):
        _template(data["user_template"], add)
    if "note" in data and data["note"] is not None and (not isinstance(data["note"], str)
                                                        or len(data["note"]) > MAX_NOTE):
        add("note", f"must be text of at most {MAX_NOTE} characters")
    if "parameters" in data:
        _parameters(data["parameters"], add)
    if "fallbacks" in data:
        _fallbacks(data["fallbacks"], add)
    if "output_schema" in data:
        _schema(data["output_schema"], files.file_prompt(name).output_schema, add)
    return out


def _text(data: dict[str, Any], key: str, limit: int, add) -> bool:
    if key not in data:
        return False
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        add(key, "must be non-empty text")
        return False
    if len(value) > limit:
        add(key, f"is {len(value):,} characters; at most {limit:,}")
        return False
    return True


def _template(template: str, add) -> None:
    if "$context" not in template:
        add("user_template", "must contain $context (where the question's context goes)")
        return
    sentinel = "{\"context\": \"here\"}"
    try:
        rendered = string.Template(template).substitute(context=sentinel)
    except KeyError as exc:
        add("user_template", f"${exc.args[0]} is not substituted: only $context is; write $$ for a literal $")
        return
    except ValueError as exc:
        add("user_template", f"{exc}; write $$ for a literal $")
        return
    if sentinel not in rendered:  # only $$context: a literal, the context would never be sent
        add("user_template", "$context must be substituted (not written as $$context)")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parameters(params: Any, add) -> None:
    if not isinstance(params, dict):
        add("parameters", "must be a mapping (model, temperature, max_tokens, seed, reasoning_effort)")
        return
    for key, value in params.items():
        field = f"parameters.{key}"
        if key == "model":
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_MODEL:
                add(field, f"must be a model name (text of 1-{MAX_MODEL} characters)")
        elif key == "temperature":
            if not _number(value) or not 0 <= value <= 2:
                add(field, "must be a number from 0 to 2")
        elif key == "max_tokens":
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 1 <= value <= 32000):
                add(field, "must be a whole number from 1 to 32000 (or left out)")
        elif key == "seed":
            if not isinstance(value, int) or isinstance(value, bool) or not -2**63 <= value < 2**63:
                add(field, "must be a whole number")
        elif key == "reasoning_effort":
            if value not in EFFORTS:
                add(field, f"must be one of {', '.join(EFFORTS)}")
        else:
            add(field, "unknown parameter; use model, temperature, max_tokens, seed, reasoning_effort")


def _fallbacks(value: Any, add) -> None:
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_FALLBACKS:
        add("fallbacks", f"must be a list of at most {MAX_FALLBACKS} model names")
        return
    from convoinsight.llm.catalog import fallback_problem

    for i, model in enumerate(value):
        if not isinstance(model, str) or not model.strip() or len(model) > MAX_MODEL:
            add(f"fallbacks.{i}", f"must be a model name (text of 1-{MAX_MODEL} characters)")
            continue
        problem = fallback_problem(model)  # the rule LLM_FALLBACK_MODELS follows: provider/model, never offline
        if problem:
            add(f"fallbacks.{i}", problem)


def _schema(schema: Any, default: dict[str, Any], add) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        add("output_schema", "must be a JSON Schema with type: object (agents answer with one JSON object)")
        return
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        add(f"output_schema.{where}" if where else "output_schema",
            f"not a valid JSON Schema (draft 2020-12): {exc.message}"[:500])
        return
    except RecursionError:
        add("output_schema", "is nested too deeply")
        return
    # The agent's code reads these keys: a schema that lets the model leave one out would break the stage.
    kept = set(schema.get("required") or [])
    missing = [key for key in default.get("required") or [] if key not in kept]
    if missing:
        add("output_schema.required", f"must keep {', '.join(missing)}: the agent's code reads them")


def _not_json(value: Any, where: str, depth: int) -> tuple[str, str] | None:
    """(field, message) for the first value JSON cannot hold (YAML dates, sets, .nan), or nesting past the limit."""
    if depth > MAX_DEPTH:
        return where, f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return where, f"keys must be text, not {type(key).__name__} ({key!r})"[:300]
            found = _not_json(item, f"{where}.{key}" if where else key, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _not_json(item, f"{where}.{i}" if where else str(i), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return where, "NaN and infinity are not JSON numbers"
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return where, f"{type(value).__name__} is not a JSON value (quote dates and times as text)"
