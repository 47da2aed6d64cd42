"""Ingest's process boundary: uploaded files are read in a supervised worker, under limits.

The serving process never parses an upload. It hands the worker pool (``convoinsight.workers.pool``,
task ``convoinsight.datasets.ingest_worker:run``) the paths of the spooled upload and of the Parquet
file to write, and gets back the labels, row count and profile, or the reason the file was
refused. What a worker's death or deadline means for the upload:

- the reader refused the file: its own 4xx (``ragged_rows``, ``too_deep``, ``zip_bomb``, ...);
- the worker needed more than ``INGEST_MEMORY_MB`` (a MemoryError, or an abort: Rust aborts when an
  allocation fails; also SIGKILL from the OOM killer, SIGXFSZ past the file-size limit), or ran past
  ``INGEST_TIMEOUT_SECONDS``: 413 ``file_too_complex``;
- the worker crashed otherwise (a segfault, a panic): 422 ``unreadable_file``;
- no worker came free within ``BUSY_WAIT_SECONDS``: 503 ``ingest_busy`` with ``Retry-After`` (a signed
  upload's event is then redelivered).

Either way nothing was claimed or stored yet: registration only starts once the worker has
returned a readable file. The dead worker is replaced; every other request goes on being served.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convoinsight.errors import (
    BadRequest,
    ConvoInsightError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMediaType,
)
from convoinsight.settings import Settings
from convoinsight.workers.pool import TaskFailed, WorkerBusy, WorkerCrashed, WorkerPool, WorkerTimeout, shared_pool

log = logging.getLogger("convoinsight.ingest")
INGEST_ENTRY = "convoinsight.datasets.ingest_worker:run"
BUSY_WAIT_SECONDS = 30.0
RETRY_AFTER_SECONDS = 30
# Deaths that mean "out of memory" (or out of file size): an allocation failure aborts Rust code, the
# kernel's OOM killer sends SIGKILL, a file past RLIMIT_FSIZE gets SIGXFSZ.
_MEMORY_DEATHS = {-signal.SIGABRT, -signal.SIGKILL, -signal.SIGXFSZ}
_BY_STATUS: dict[int, type[ConvoInsightError]] = {400: BadRequest, 413: PayloadTooLarge, 415: UnsupportedMediaType,
                                                  422: Unprocessable}


@dataclass(frozen=True)
class Ingested:
    parquet: Path  # the canonical file, named by identifiers
    labels: list[str]
    rows: int
    profile: dict[str, Any]
    copied: bool  # a canonical Parquet upload, copied unchanged


def ingest_pool(settings: Settings) -> WorkerPool:
    """The process's ingest workers, started on the first upload. replace_on_error: a worker whose task raised
    (MemoryError) may have a fragmented heap near its limit, which it sets itself (hence the variant)."""
    return shared_pool(INGEST_ENTRY, settings.ingest_workers, replace_on_error=True, variant=settings.ingest_memory_mb)


@contextmanager
def workspace() -> Iterator[Path]:
    """A private temporary folder for one upload's files (the spooled upload, scratch, the Parquet file)."""
    folder = Path(tempfile.mkdtemp(prefix="convoinsight-ingest-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def convert(settings: Settings, source: Path, fmt: str, sheet: str | None, work: Path,
            pool: WorkerPool | None = None) -> Ingested:
    """Read ``source`` into ``work/data.parquet`` in an ingest worker; raises the upload's error otherwise."""
    out, scratch = work / "data.parquet", work / "scratch"
    scratch.mkdir(exist_ok=True)
    task = {"source": str(source), "format": fmt, "sheet": sheet, "out": str(out), "work": str(scratch),
            "max_rows": settings.max_dataset_rows, "max_columns": settings.max_dataset_columns,
            "max_depth": settings.max_nesting_depth, "memory_mb": settings.ingest_memory_mb,
            "max_file_bytes": 4 * max(settings.max_signed_upload_bytes, settings.max_upload_bytes)}
    pool = pool or ingest_pool(settings)
    timeout = settings.ingest_timeout_seconds
    try:
        result = pool.run(task, timeout, wait=min(BUSY_WAIT_SECONDS, timeout))
    except TaskFailed as failed:
        # The kind only: a library's message may quote the file's cells, which never reach a log line.
        log.warning("ingest worker task failed", extra={"event": "ingest_failed", "kind": failed.kind})
        if failed.kind == "MemoryError":
            raise too_complex(settings, "memory") from None
        raise Unprocessable("the file could not be read; it may be damaged", code="unreadable_file",
                            details={"reason": failed.kind}) from None
    except WorkerTimeout:
        raise too_complex(settings, "time") from None
    except WorkerCrashed as crashed:
        log.warning("ingest worker died", extra={"event": "ingest_crashed", "exitcode": crashed.exitcode})
        if crashed.exitcode in _MEMORY_DEATHS:
            raise too_complex(settings, "memory") from None
        raise Unprocessable("the file could not be read: the reader crashed on it (it may be damaged, or built to "
                            "crash readers); nothing was stored", code="unreadable_file") from None
    except WorkerBusy:
        busy = ServiceUnavailable("every ingest worker is busy with other uploads; try again shortly",
                                  code="ingest_busy")
        busy.retry_after = RETRY_AFTER_SECONDS
        raise busy from None
    if "error" in result:
        error = result["error"]
        cls = _BY_STATUS.get(error["status"], Unprocessable)
        raise cls(error["message"], code=error["code"], details=error.get("details") or None)
    return Ingested(out, result["labels"], result["rows"], result["profile"], result["copied"])


def too_complex(settings: Settings, limit: str) -> PayloadTooLarge:
    if limit == "time":
        what = f"more than the {settings.ingest_timeout_seconds:g} s an upload may take to read"
    else:
        what = f"more than the {settings.ingest_memory_mb:,} MB of memory an upload may use while it is read"
    return PayloadTooLarge(f"the file needs {what}; split it into smaller files, or flatten deeply nested values, "
                           "and upload them again", code="file_too_complex", details={"limit": limit})
