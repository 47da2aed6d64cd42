"""Nesting depth, bounded before any parser sees a file: deeply nested values crash readers.

A JSON value nested 900 levels deep, or a Parquet struct 400 levels deep, overflows the stack of
the Rust readers (a segfault, not an exception), and a dataset holding such a column crashes
every later reader of it too. So the depth is measured first, cheaply, and a file past
``MAX_NESTING_DEPTH`` is refused with 422 ``too_deep`` (never flattened: a column shaped like
that is not a table anyone asked questions about).

Depth counts the levels of lists and objects inside one cell: ``{"a": 1}`` as a row is 0,
``{"a": [1]}`` is 1, ``{"a": {"b": [1]}}`` is 2; a Parquet ``list<struct<x: int>>`` column is 2.

- JSON and NDJSON: a byte scanner counts brackets outside strings (honouring backslash escapes),
  vectorised per chunk with Polars, so a 1 GB file costs seconds and constant memory. Brackets
  inside strings do not count; a file that is not valid JSON is left for the parser to refuse
  (no parser goes deeper than the first syntax error, so nothing it reaches is deeper than
  what is counted here).
- Parquet: only the footer is read (pyarrow's metadata reader, which itself refuses schemas
  past its own limit), and the Arrow types are walked without recursion.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from convoinsight.errors import Unprocessable

CHUNK_BYTES = 16 * 1024 * 1024
# Only quotes and brackets matter once escapes are gone: everything else is deleted before counting.
_KEEP = b'"[]{}'
_DELETE = bytes(b for b in range(256) if b not in _KEEP)
_QUOTE, _OPEN_SQUARE, _OPEN_CURLY, _CLOSE_SQUARE, _CLOSE_CURLY = b'"[{]}'


def too_deep(depth: int | None, limit: int, what: str) -> Unprocessable:
    """``depth`` None: deeper than Parquet readers go (pyarrow refuses schemas past 100 nodes; a list is two)."""
    if depth is None:
        return Unprocessable(f"{what} nests values too deeply for Parquet readers to read it back (more levels of "
                             "nested lists and objects than they accept); flatten the data and upload it again",
                             code="too_deep", details={"depth": None, "limit": limit})
    return Unprocessable(f"{what} nests values {depth:,} levels deep; at most {limit:,} levels of nested lists and "
                         "objects are allowed in a cell (flatten the data and upload it again)",
                         code="too_deep", details={"depth": depth, "limit": limit})


class JsonDepthScanner:
    """Feed the bytes of a JSON text in order; ``max_depth`` is the deepest bracket nesting outside strings.

    Per chunk, at C speed: escape pairs go first (``\\\\`` pairs, then ``\\"``: what is left of a
    backslash run escapes the byte after it), then every byte but quotes and brackets; on what
    remains (a few percent of the text) quote parity marks strings and a running sum of
    brackets gives the depth, with pyarrow's vectorised kernels.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.max_depth = 0
        self._in_string = False
        self._held = b""  # a backslash whose escaped byte is in the next chunk

    def feed(self, chunk: bytes) -> int:
        chunk = self._held + chunk
        self._held = b""
        if b"\\" in chunk:
            run = len(chunk) - len(chunk.rstrip(b"\\"))
            if run % 2:
                chunk, self._held = chunk[:-1], b"\\"
            chunk = chunk.replace(b"\\\\", b"").replace(b'\\"', b"")
        tokens = chunk.translate(None, _DELETE)
        if tokens:
            self._count(tokens)
        return self.max_depth

    def _count(self, tokens: bytes) -> None:
        import pyarrow.compute as pc

        data = pa.Array.from_buffers(pa.uint8(), len(tokens), [None, pa.py_buffer(tokens)])
        quotes = pc.cast(pc.equal(data, _QUOTE), pa.int64())
        quotes_so_far = pc.cumulative_sum(quotes)
        # a bracket is outside strings when an even number of quotes came before it
        outside = pc.equal(pc.bit_wise_and(pc.add(quotes_so_far, int(self._in_string)), 1), 0)
        opens = pc.and_(outside, pc.or_(pc.equal(data, _OPEN_SQUARE), pc.equal(data, _OPEN_CURLY)))
        closes = pc.and_(outside, pc.or_(pc.equal(data, _CLOSE_SQUARE), pc.equal(data, _CLOSE_CURLY)))
        steps = pc.subtract(pc.cast(opens, pa.int64()), pc.cast(closes, pa.int64()))
        depth = pc.cumulative_sum(steps, start=self.depth)
        self.max_depth = max(self.max_depth, pc.max(depth).as_py())
        self.depth = depth[-1].as_py()
        self._in_string = (int(self._in_string) + quotes_so_far[-1].as_py()) % 2 == 1


def json_depth(path: Path, stop_above: int | None = None) -> int:
    """The deepest bracket nesting of a JSON or NDJSON file (the outer array or row object included)."""
    scanner = JsonDepthScanner()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if scanner.feed(chunk) > (stop_above if stop_above is not None else float("inf")):
                break
    return scanner.max_depth


def check_json_depth(path: Path, limit: int, *, rows_are_objects_in_an_array: bool) -> None:
    """422 ``too_deep`` past ``limit`` levels inside a cell (the array of rows and each row's object are free)."""
    frame_levels = 2 if rows_are_objects_in_an_array else 1
    depth = json_depth(path, stop_above=limit + frame_levels) - frame_levels
    if depth > limit:
        raise too_deep(depth, limit, "the file")


def type_depth(dtype: pa.DataType) -> int:
    """Levels of lists, structs and maps in an Arrow type (a plain value is 0), walked without recursion."""
    deepest, stack = 0, [(dtype, 0)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        children = [current.field(i).type for i in range(current.num_fields)]
        if children:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def schema_depth(schema: pa.Schema) -> int:
    return max((type_depth(field.type) for field in schema), default=0)


def check_parquet_depth(path: Path, limit: int) -> pa.Schema:
    """Read only the footer: 422 ``too_deep`` past ``limit``; the Arrow schema otherwise.

    Raises ``OSError`` / ``pa.ArrowInvalid`` for a footer that is not Parquet (the caller words it).
    """
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
        schema = metadata.schema.to_arrow_schema()
    except OSError as exc:
        if "too deeply nested" in str(exc):  # pyarrow's own bound (100 schema nodes) is past ours
            raise too_deep(None, limit, "the Parquet file") from None
        raise
    depth = schema_depth(schema)
    if depth > limit:
        raise too_deep(depth, limit, "the Parquet file")
    return schema
