"""The chart renderer's worker task: vl-convert (a V8 JavaScript runtime, and resvg) runs here, never in the
serving process.

Each worker is one process of render.py's ``WorkerPool``: it takes one task at a time and returns
``{"op": "svg", "spec", "vl_version"}`` -> the SVG text, or ``{"op": "png", "svg", "scale"}`` -> the
PNG bytes; every task also carries ``memory_mb``. The pool kills a worker past the time limit and
replaces a worker whose task raised or died (vl-convert can carry a failed call's state into the
next call), so no render ever sees what an earlier one left behind.

Memory: an address-space limit (``RLIMIT_AS``, the pool's ``memory_bytes``) cannot hold V8, which
reserves about 64 GB of address space at start (Oilpan's caged heap, the code range), used or not:
under any ``RLIMIT_AS`` a render could live with it does not even start. The worker instead limits
its data segment (``RLIMIT_DATA``: private writable memory, what V8's heap, resvg's pixmaps and
Python really commit) to ``memory_mb`` before its first render. Past it V8 aborts or Python raises
MemoryError, and the pool replaces the worker. V8 needs about 600 MB of it just to start, hence
CHART_RENDER_MEMORY_MB's minimum. Core dumps are off: an aborting V8 would write gigabytes.

Errors: vl-convert's exception often names a later symptom ("Cannot read properties of undefined")
while Vega's own message ("Unrecognized scheme name: x") goes to stderr. The worker's stderr is a
small in-memory file (at most STDERR_BYTES: RLIMIT_FSIZE, with SIGXFSZ ignored): the first such
line is added to the error, and nothing of it reaches the service's log stream, which is JSON.

vl_convert is imported by the first task, not at import: the pool's forkserver preloads this module,
and the SQL workers forked from the same forkserver should not map an 88 MB library.
"""

from __future__ import annotations

import os
import resource
import signal
from typing import Any

STDERR_BYTES = 64 * 1024
_prepared = False


def run(task: dict[str, Any]) -> Any:
    _prepare(int(task.get("memory_mb") or 0))
    import vl_convert

    os.ftruncate(2, 0)
    os.lseek(2, 0, os.SEEK_SET)
    op = task.get("op")
    try:
        if op == "svg":
            # allowed_base_urls=[]: nothing is ever fetched, whatever the spec says.
            return vl_convert.vegalite_to_svg(task["spec"], vl_version=task["vl_version"], allowed_base_urls=[])
        if op == "png":
            return vl_convert.svg_to_png(task["svg"], scale=task["scale"])
    except ValueError as exc:
        said = _stderr_error()
        raise ValueError(said or str(exc)) from None
    raise ValueError(f"unknown render operation {op!r}")


def _prepare(memory_mb: int) -> None:
    """Set this worker's limits once, before V8 starts (a lowered hard limit cannot be raised again)."""
    global _prepared
    if _prepared:
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    # stderr becomes a bounded in-memory file: past STDERR_BYTES a write fails instead of killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (STDERR_BYTES, STDERR_BYTES))
    captured = os.memfd_create("render-stderr")
    os.dup2(captured, 2)
    os.close(captured)
    _prepared = True


def _stderr_error() -> str:
    """The first error line Vega wrote to stderr during this task, if any."""
    os.lseek(2, 0, os.SEEK_SET)
    text = os.read(2, STDERR_BYTES).decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("ERROR "):
            return line.removeprefix("ERROR ").removeprefix("Error: ").strip()[:300]
    return ""
