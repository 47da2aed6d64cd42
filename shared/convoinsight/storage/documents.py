"""The document store interface: JSON documents addressed by (collection, id).

Collections are slash paths that start with the tenant, e.g.
``tenants/<uid>/datasets``, so isolation is structural: no call can reach a
document without naming its tenant. PostgreSQL (local mode) and Firestore
(cloud mode) implement the same contract, tested by one suite.

Values are JSON: strings and keys never hold NUL (U+0000), which PostgreSQL
cannot store; every write that holds one is refused with ``ValueError`` and
writes nothing, in both stores (``convoinsight.nul`` says who strips or refuses
it before it gets here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from convoinsight import nul

MAX_BATCH = 500  # writes in one put_many: Firestore's limit for one batched write

Write = tuple[str, str, dict[str, Any]]  # (collection, id, data)


Ref = tuple[str, str]  # (collection, id)


class DocumentStore(Protocol):
    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    def get_many(self, refs: Sequence[Ref]) -> list[dict[str, Any] | None]:
        """Several documents, from any collections, in one round trip: one per ref, in order (None where
        there is none). One statement in PostgreSQL (a consistent snapshot), one batched get in Firestore;
        at most ``MAX_BATCH`` distinct refs."""

    def create(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        """Store a new document; raise ``Conflict`` if the id exists."""

    def put(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        """Create or replace a document."""

    def put_many(self, writes: Sequence[Write]) -> None:
        """Create or replace several documents together: every one is written, or none is.

        One statement in PostgreSQL, one batched commit in Firestore; at most
        ``MAX_BATCH`` documents; the same (collection, id) twice keeps the last.
        """

    def put_if_newer(self, collection: str, doc_id: str, data: dict[str, Any], field: str) -> bool:
        """Create, or replace only when ``data[field]`` (a number) exceeds the stored one; atomic.

        Racing writers of versioned records can then never move a pointer backwards.
        """

    def increment(self, collection: str, doc_id: str, field: str, amount: int) -> None:
        """Add ``amount`` to the integer ``field`` (0 when absent), creating the document if needed; atomic
        under concurrent writers (a counter such as a day's token spend)."""

    def delete(self, collection: str, doc_id: str) -> bool:
        """Delete a document; return whether it existed."""

    def list(
        self,
        collection: str,
        *,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        after: tuple[Any, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Documents of one collection whose fields equal ``where``, optionally ordered and limited.

        Ordered lists are ordered by (``order_by``, id), both in the chosen direction. ``after`` (with
        ``order_by`` only) is a cursor: the (field value, id) of the last document of the previous page;
        the list starts just past it. Documents that lack the field are left out of ordered lists.
        """

    def delete_tree(self, prefix: str) -> int:
        """Delete every document of collection ``prefix`` and of every collection below it; return how many."""

    def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when the backend cannot be reached."""


def refuse_nul(collection: str, doc_id: str, data: Any = None, serialized: str | None = None) -> None:
    """``ValueError`` when a path, an id or anything in ``data`` holds a NUL character.

    ``serialized``: ``data`` as the store will write it (``json.dumps``), when the store made it already; its
    scan replaces ``nul.may_hold``'s own serialization."""
    if nul.NUL in collection or nul.NUL in doc_id:
        raise ValueError("a collection path or document id cannot contain NUL characters")
    if data is None:
        return
    suspect = "\\u0000" in serialized if serialized is not None else nul.may_hold(data)
    where = nul.find(data) if suspect else None
    if where:
        raise ValueError(f"NUL characters cannot be stored (found at {where})")


def refs_of(refs: Sequence[Ref]) -> list[Ref]:
    """The distinct refs of one ``get_many``, checked (NUL, count) before anything is read."""
    unique = list(dict.fromkeys((collection, doc_id) for collection, doc_id in refs))
    for collection, doc_id in unique:
        refuse_nul(collection, doc_id)
    if len(unique) > MAX_BATCH:
        raise ValueError(f"get_many takes at most {MAX_BATCH} documents, not {len(unique)}")
    return unique


def batch_of(writes: Sequence[Write], serialize: Callable[[dict[str, Any]], str] | None = None,
             ) -> dict[tuple[str, str], Any]:
    """The writes of one ``put_many``, checked (NUL, size) before anything is written; the last of a key wins.

    With ``serialize`` (a store that writes JSON text): each value is that text, made once and scanned for NUL."""
    unique: dict[tuple[str, str], Any] = {}
    for collection, doc_id, data in writes:
        text = serialize(data) if serialize is not None else None
        refuse_nul(collection, doc_id, data, text)
        unique[(collection, doc_id)] = data if text is None else text
    if len(unique) > MAX_BATCH:
        raise ValueError(f"put_many takes at most {MAX_BATCH} documents, not {len(unique)}")
    return unique
