"""The ingest worker's task: an uploaded file becomes canonical Parquet, profiled and proven readable.

This module runs inside a worker process of ``convoinsight.datasets.ingest``'s pool, never in the
serving process: parsing an uploaded file is untrusted work (a reader may segfault, panic, loop or
run out of memory on a hostile file), and the worker may die without taking the service with it.
Tasks carry file paths, never file contents:

    {"source", "format", "sheet", "out", "work", "max_rows", "max_columns", "max_depth",
     "memory_mb", "max_file_bytes"}

and the task returns ``{"labels", "rows", "profile", "copied"}``, or ``{"error": {"status", "code",
"message", "details"}}`` for a file the readers refused (the worker stays). A ``MemoryError`` is
raised, not returned, so that the pool replaces the worker.

Limits, set once per worker before its first task (a lowered hard limit cannot be raised again):
``RLIMIT_DATA`` (private writable memory, what Polars really commits; an address-space limit is
useless here, Polars reserves ~1.4 GB of address space to use 200 MB), ``RLIMIT_FSIZE`` (no file
it writes grows past ``max_file_bytes``) and no core dumps. Polars reads CSV in 4 MB chunks rather
than its 32 MB default: the same CPU time, and the peak memory of a streaming read of a 5M-row CSV
falls from ~390 to ~170 MB.

Polars and pyarrow are imported by the first task, not at import: the pool's forkserver preloads
this module, and the other pools' workers forked from it need neither.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

from convoinsight.errors import ConvoInsightError, Unprocessable

READ_CHUNK_BYTES = 4 * 1024 * 1024
VERIFY_ROWS = 100
_limited: tuple[int, int] | None = None


def run(task: dict[str, Any]) -> dict[str, Any]:
    _limit(int(task.get("memory_mb") or 0), int(task.get("max_file_bytes") or 0))
    try:
        return _ingest(task)
    except ConvoInsightError as exc:
        return {"error": {"status": exc.status, "code": exc.code, "message": exc.message, "details": exc.details}}


def _ingest(task: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.datasets.formats.common import short
    from convoinsight.datasets.naming import unique_identifiers
    from convoinsight.datasets.profile import profile_table
    from convoinsight.datasets.readers import convert_file

    out, max_depth = Path(task["out"]), int(task["max_depth"])
    converted = convert_file(Path(task["source"]), task["format"], out, Path(task["work"]), sheet=task.get("sheet"),
                             max_rows=task.get("max_rows"), max_columns=task.get("max_columns"), max_depth=max_depth)
    scan = verify_readable(out, max_depth)
    try:
        profile = profile_table(scan, dict(zip(unique_identifiers(converted.labels), converted.labels, strict=True)))
    except Exception as exc:  # a copied Parquet file whose pages are damaged: the profile reads every one
        _unless_out_of_memory(exc)
        raise Unprocessable(f"the file could not be read to the end: {short(exc)}", code="unreadable_file") from None
    return {"labels": converted.labels, "rows": converted.rows, "profile": profile, "copied": converted.copied}


def verify_readable(path: Path, max_depth: int):
    """The canonical file read back the way the service will read it (footer, schema, first rows), so no
    record ever points at a file that cannot be previewed, downloaded or queried. Returns a lazy scan."""
    import polars as pl

    from convoinsight.datasets.formats.common import short
    from convoinsight.datasets.nesting import check_parquet_depth

    try:
        check_parquet_depth(path, max_depth)  # the footer, through pyarrow, as DuckDB and downloads see it
        scan = pl.scan_parquet(path)
        scan.collect_schema()
        scan.head(VERIFY_ROWS).collect()  # what a preview reads
    except ConvoInsightError:
        raise
    except Exception as exc:
        _unless_out_of_memory(exc)
        raise Unprocessable(f"the converted file could not be read back: {short(exc)}", code="unreadable_file") \
            from None
    return scan


def _unless_out_of_memory(exc: Exception) -> None:
    """Out of memory is the worker's limit, not the file's fault: raised as MemoryError (413, worker replaced)."""
    from convoinsight.datasets.formats.common import short
    from convoinsight.datasets.readers import out_of_memory

    if out_of_memory(exc):
        raise MemoryError(short(exc)) from None


def _limit(memory_mb: int, max_file_bytes: int) -> None:
    global _limited
    if _limited is not None:
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    if max_file_bytes > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    # Read by Polars at each scan, so setting them here (before the first) is enough.
    os.environ["POLARS_CSV_CHUNK_SIZE"] = str(READ_CHUNK_BYTES)
    _limited = (memory_mb, max_file_bytes)
