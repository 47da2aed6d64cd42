"""Where edited prompts live: their versions and "current" pointers in the document store, a generation in Redis.

Prompts are deployment-wide, not per tenant, so the paths sit outside ``tenants/``
and have an odd number of segments (Firestore collections)::

    deployment/prompts/<agent>    one document per stored version, id ``v0000000004`` (immutable)
    deployment/prompts/current    one pointer per agent, id ``<agent>``: which version is current

The document store is the truth. A version is ``create``d (first writer wins), so
no number is ever given twice; a pointer moves with ``put_if_newer`` on ``seq``,
which each change sets to the seq it read plus one: a compare-and-set, so two
racing changes never both win from the same state.

Redis only carries ``GENERATION_KEY``, bumped after every change, so that every
process knows within about a second that it should read the pointers again
(``convoinsight.llm.prompts.PromptStore``). This module imports no prompt code:
both the store that reads and the use case that writes build on it.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

log = logging.getLogger("convoinsight.prompts")

ROOT = "deployment/prompts"  # delete_tree(ROOT) forgets every edit: back to the files
POINTERS = f"{ROOT}/current"
GENERATION_KEY = "ci:v1:prompts:generation"


def versions(agent: str) -> str:
    """The collection of an agent's stored versions ("current" is not an agent name: no clash)."""
    return f"{ROOT}/{agent}"


def version_id(version: int) -> str:
    # Zero-padded: ids sort like the numbers, which keeps cursors by (version, id) simple.
    return f"v{int(version):010d}"


def version_doc(agent: str, version: int, data: dict[str, Any], *, source: str, created_at: str | None,
                created_by: str | None, note: str | None) -> dict[str, Any]:
    """A stored version. The prompt itself is kept as JSON text: an output schema may hold what Firestore
    cannot store as fields (arrays in arrays, keys such as ``__x__``), and it is only ever read whole."""
    return {"agent": agent, "version": int(version), "source": source, "created_at": created_at,
            "created_by": created_by, "note": note,
            "prompt": json.dumps({**data, "version": int(version)}, ensure_ascii=False, sort_keys=False)}


def prompt_data(doc: dict[str, Any]) -> dict[str, Any]:
    """The prompt mapping of a stored version (the shape of ``prompts/<agent>.yaml``)."""
    return {**json.loads(doc["prompt"]), "version": int(doc["version"])}


def pointer(agent: str, *, mode: str, version: int, source: str, seq: int, user_id: str | None,
            at: str) -> dict[str, Any]:
    """``mode`` "file": follow ``prompts/<agent>.yaml`` (whatever its version); "stored": stored ``version``."""
    return {"agent": agent, "mode": mode, "version": int(version), "source": source, "seq": int(seq),
            "updated_by": user_id, "updated_at": at}


_pending = threading.Event()  # this process changed a prompt while Redis was down: bump once it is back


def bump_generation(redis) -> None:
    """Tell every process to read the pointers again; without Redis they do so on their own, a little later."""
    try:
        if redis is None:
            return
        redis.incr(GENERATION_KEY)
        _pending.clear()
    except Exception as exc:  # Redis down: the change is stored; other processes fall back to polling
        _pending.set()
        log.warning("prompt generation not bumped (%s): other instances see the change within their "
                    "fallback interval", type(exc).__name__)


def retry_pending_bump(redis) -> None:
    """The bump a change could not make while Redis was down, made now that it answers again."""
    if _pending.is_set():
        bump_generation(redis)


def generation(redis) -> tuple[bool, Any]:
    """(True, value) when Redis answered (value None when the key was never set), else (False, None)."""
    if redis is None:
        return False, None
    try:
        return True, redis.get(GENERATION_KEY)
    except Exception:
        return False, None
