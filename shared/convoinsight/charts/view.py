"""Reading a Vega-Lite spec: its keys, its mark and the fields of its encoding channels.

Specs come from a model, so every accessor tolerates any JSON (a channel may be a list, a field
may be an object such as ``{"repeat": "row"}``) and answers None rather than raising.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

COMPOSITIONS = ("facet", "concat", "hconcat", "vconcat", "repeat")


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def mark_type(mark: Any) -> str | None:
    value = mark.get("type") if isinstance(mark, dict) else mark
    return value if isinstance(value, str) else None


def primary_view(spec: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The mark and encoding that decide how to reduce the data: the spec's own, else its first layer's.

    A layer inherits the parent's encoding, so the two are merged (the layer's channels win).
    Compositions (facet, concat, repeat) have no single view: (None, {}).
    """
    if "mark" in spec:
        return mark_type(spec["mark"]), _encoding(spec)
    for layer in spec.get("layer") or []:
        if isinstance(layer, dict) and "mark" in layer:
            return mark_type(layer["mark"]), {**_encoding(spec), **_encoding(layer)}
    return None, {}


def mark_summary(spec: dict[str, Any]) -> str | None:
    """A short name for listings: ``bar``, ``line+point`` for a layer, or the composition's name."""
    if "mark" in spec:
        return mark_type(spec["mark"])
    if isinstance(spec.get("layer"), list):
        marks = [mark_type(layer.get("mark")) for layer in spec["layer"] if isinstance(layer, dict)]
        return "+".join(m for m in marks if m) or "layer"
    return next((name for name in COMPOSITIONS if name in spec), None)


def channel(encoding: dict[str, Any], name: str) -> dict[str, Any]:
    value = encoding.get(name)
    return value if isinstance(value, dict) else {}


def field(encoding: dict[str, Any], name: str) -> str | None:
    value = channel(encoding, name).get("field")
    return value if isinstance(value, str) else None


def kind(encoding: dict[str, Any], name: str) -> str | None:
    """The channel's measurement type (nominal, ordinal, quantitative, temporal) when stated."""
    value = channel(encoding, name).get("type")
    return value if isinstance(value, str) else None


def _encoding(view: dict[str, Any]) -> dict[str, Any]:
    value = view.get("encoding")
    return value if isinstance(value, dict) else {}
