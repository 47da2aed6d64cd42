"""JSON (an array of objects) and NDJSON (one object per line).

Polars parses; Python only peeks at the first bytes to tell the user what shape
it found, and walks the lines of an NDJSON file when Polars has refused one, to
name it. Nested objects and arrays stay as Polars struct and list columns.
"""

from __future__ import annotations

import json
import re

import polars as pl

from convoinsight.datasets.formats.common import parse_iso_temporals, unreadable
from convoinsight.datasets.formats.text import to_utf8
from convoinsight.errors import BadRequest, Unprocessable

_FIRST_TOKEN = re.compile(rb"\s*(.)", re.DOTALL)
_SPACE = re.compile(r"\s*")
_SHAPES = {b"{": "a single object", b'"': "a string", b"t": "a boolean", b"f": "a boolean", b"n": "null"}
_EXPECTED = 'a JSON dataset must be an array of objects, like [{"region": "North", "sales": 10}, ...]'


def read_json(data: bytes) -> pl.DataFrame:
    utf8 = _text(data)
    first, after = _token(utf8, 0)
    if first != b"[":
        hint = "; a file with one object per line should be named .ndjson or .jsonl" if first == b"{" else ""
        raise unreadable(f"{_EXPECTED}, but this file holds {_SHAPES.get(first, 'a number')}{hint}")
    item, _ = _token(utf8, after)
    if item == b"]":
        raise Unprocessable("the JSON array is empty; there are no rows to load", code="no_rows")
    if item != b"{":
        raise unreadable(f"{_EXPECTED}, but the array holds plain values, not objects")
    try:
        # every record decides the columns: with a sample, keys first seen later were refused
        frame = pl.read_json(utf8, infer_schema_length=None)
    except Exception as exc:  # Polars' JSON errors come as several exception types
        # Polars words "item 2 is not an object" and "a field is a number here and an
        # object there" alike, so walk the array to say which it is.
        raise _explain_json_failure(utf8) from exc
    return parse_iso_temporals(frame)


def read_ndjson(data: bytes) -> pl.DataFrame:
    utf8 = _text(data)
    try:
        frame = pl.read_ndjson(utf8, infer_schema_length=None)  # with a sample, later keys were silently dropped
    except Exception as exc:
        _name_bad_line(utf8)
        raise unreadable("the lines do not fit one table: a field holds different kinds of values on different "
                         "lines, such as a number on one and an object on another") from exc
    return parse_iso_temporals(frame)


def _text(data: bytes) -> bytes:
    utf8, _encoding = to_utf8(data)
    if not utf8 or utf8.isspace():
        raise BadRequest("the file is empty", code="empty_file")
    return utf8


def _token(utf8: bytes, start: int) -> tuple[bytes, int]:
    match = _FIRST_TOKEN.match(utf8, start)
    return (match[1], match.end()) if match else (b"", len(utf8))


def _explain_json_failure(utf8: bytes) -> Unprocessable:
    """Why Polars refused a JSON array: bad syntax (with its line), a non-object item, or clashing field types."""
    text, decoder = utf8.decode("utf-8"), json.JSONDecoder()
    position, number = text.index("[") + 1, 0
    try:
        while True:
            position = _SPACE.match(text, position).end()
            if text.startswith("]", position) and number == 0:
                break
            value, position = decoder.raw_decode(text, position)  # one item at a time, then dropped
            number += 1
            if not isinstance(value, dict):
                return unreadable(f"{_EXPECTED}, but item {number:,} of the array is {_kind(value)}")
            position = _SPACE.match(text, position).end()
            if text.startswith("]", position):
                break
            if not text.startswith(",", position):
                raise json.JSONDecodeError("expected ',' or ']' after an item", text, position)
            position += 1
        position = _SPACE.match(text, position + 1).end()
        if position < len(text):
            raise json.JSONDecodeError("unexpected content after the end of the array", text, position)
    except json.JSONDecodeError as err:
        return unreadable(f"the file is not valid JSON: {err.msg} (line {err.lineno:,}, column {err.colno:,})")
    return unreadable("the objects do not fit one table: a field holds different kinds of values in different "
                      "objects, such as a number in one and an object in another")


def _name_bad_line(utf8: bytes) -> None:
    """Raise 422 naming the first line that is not a JSON object (runs only after Polars has refused the file)."""
    for number, line in enumerate(utf8.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise unreadable(f"line {number:,} is not valid JSON; NDJSON needs one complete JSON object "
                             "per line") from None
        if not isinstance(value, dict):
            hint = " (a JSON array file should be named .json)" if isinstance(value, list) and number == 1 else ""
            raise unreadable(f"line {number:,} holds {_kind(value)}, not a JSON object; NDJSON needs one object "
                             f"per line{hint}")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {str: "a string", list: "an array"}.get(type(value), "null")
