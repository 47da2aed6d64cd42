"""JSON (an array of objects) and NDJSON (one object per line), written to Parquet.

The nesting depth is bounded first (``convoinsight.datasets.nesting``: a byte scan, before any
parser sees the file). Polars parses; Python only peeks at the first bytes to tell the user what
shape it found, and walks the lines of an NDJSON file when Polars has refused one, to name it.
NDJSON streams from the file into Parquet; a JSON array has no streaming reader and is parsed
whole (in the ingest worker, under its memory limit). Nested objects and arrays stay as Polars
struct and list columns.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl

from convoinsight.datasets.formats.common import iso_temporal_casts, parse_iso_temporals, unique_labels, unreadable
from convoinsight.datasets.formats.text import TextFile, utf8_file
from convoinsight.datasets.naming import unique_identifiers
from convoinsight.datasets.nesting import check_json_depth
from convoinsight.errors import Unprocessable

_FIRST_TOKEN = re.compile(rb"\s*(.)", re.DOTALL)
_SPACE = re.compile(r"\s*")
_SHAPES = {b"{": "a single object", b'"': "a string", b"t": "a boolean", b"f": "a boolean", b"n": "null"}
_EXPECTED = 'a JSON dataset must be an array of objects, like [{"region": "North", "sales": 10}, ...]'
_HEAD_BYTES = 64 * 1024


def convert_json(source: Path, out: Path, work: Path, max_depth: int) -> list[str]:
    """Write the array's objects as Parquet at ``out`` (columns named by identifiers); returns the labels."""
    text = utf8_file(source, work)
    head = text.head(_HEAD_BYTES)
    first, after = _token(head, 0)
    if first != b"[":
        hint = "; a file with one object per line should be named .ndjson or .jsonl" if first == b"{" else ""
        raise unreadable(f"{_EXPECTED}, but this file holds {_SHAPES.get(first, 'a number')}{hint}")
    item, _ = _token(head, after)
    if item == b"]":
        raise Unprocessable("the JSON array is empty; there are no rows to load", code="no_rows")
    if item != b"{":
        raise unreadable(f"{_EXPECTED}, but the array holds plain values, not objects")
    check_json_depth(text.path, max_depth, rows_are_objects_in_an_array=True)
    try:
        # every record decides the columns: with a sample, keys first seen later were refused
        frame = pl.read_json(text.path, infer_schema_length=None)
    except Exception as exc:  # Polars' JSON errors come as several exception types
        # Polars words "item 2 is not an object" and "a field is a number here and an
        # object there" alike, so walk the array to say which it is.
        raise _explain_json_failure(text) from exc
    labels = unique_labels(frame.columns)
    frame = parse_iso_temporals(frame)
    frame.columns = unique_identifiers(labels)
    frame.write_parquet(out)
    return labels


def convert_ndjson(source: Path, out: Path, work: Path, max_depth: int) -> list[str]:
    """Stream the lines' objects into Parquet at ``out`` (columns named by identifiers); returns the labels."""
    text = utf8_file(source, work, bom_ok=False)  # Polars' NDJSON reader does not skip a byte-order mark
    check_json_depth(text.path, max_depth, rows_are_objects_in_an_array=False)
    first = work / "first.parquet"
    try:
        # every line decides the columns (with a sample, later keys were silently dropped): one pass to infer,
        # then the read proper with that schema (a scan left to infer would infer again)
        schema = pl.scan_ndjson(text.path, infer_schema_length=None).collect_schema()
        labels = unique_labels(schema.names())
        (pl.scan_ndjson(text.path, schema=schema)
         .rename(dict(zip(schema.names(), unique_identifiers(labels), strict=True))).sink_parquet(first))
    except Exception as exc:
        _name_bad_line(text)
        raise unreadable("the lines do not fit one table: a field holds different kinds of values on different "
                         "lines, such as a number on one and an object on another") from exc
    frame = pl.scan_parquet(first)
    casts = iso_temporal_casts(frame, frame.collect_schema().names())
    if casts:
        frame.with_columns(casts).sink_parquet(out)
        first.unlink()
    else:
        os.replace(first, out)
    return labels


def _token(utf8: bytes, start: int) -> tuple[bytes, int]:
    match = _FIRST_TOKEN.match(utf8, start)
    return (match[1], match.end()) if match else (b"", len(utf8))


def _explain_json_failure(source: TextFile) -> Unprocessable:
    """Why Polars refused a JSON array: bad syntax (with its line), a non-object item, or clashing field types."""
    with open(source.path, encoding="utf-8-sig" if source.skip else "utf-8", errors="replace") as handle:
        text = handle.read()
    decoder = json.JSONDecoder()
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


def _name_bad_line(source: TextFile) -> None:
    """Raise 422 naming the first line that is not a JSON object (runs only after Polars has refused the file)."""
    with open(source.path, "rb") as lines:
        _name_first_bad(lines)


def _name_first_bad(lines) -> None:
    for number, line in enumerate(lines, start=1):
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
