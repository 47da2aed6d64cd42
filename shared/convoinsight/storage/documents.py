"""The document store interface: JSON documents addressed by (collection, id).

Collections are slash paths that start with the tenant, e.g.
``tenants/<uid>/datasets``, so isolation is structural: no call can reach a
document without naming its tenant. PostgreSQL (local mode) and Firestore
(cloud mode) implement the same contract, tested by one suite.
"""

from __future__ import annotations

from typing import Any, Protocol


class DocumentStore(Protocol):
    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    def create(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        """Store a new document; raise ``Conflict`` if the id exists."""

    def put(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        """Create or replace a document."""

    def put_if_newer(self, collection: str, doc_id: str, data: dict[str, Any], field: str) -> bool:
        """Create, or replace only when ``data[field]`` (a number) exceeds the stored one; atomic.

        Racing writers of versioned records can then never move a pointer backwards.
        """

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
    ) -> list[dict[str, Any]]:
        """Documents of one collection whose fields equal ``where``, optionally ordered and limited."""

    def delete_tree(self, prefix: str) -> int:
        """Delete every document of collection ``prefix`` and of every collection below it; return how many."""

    def ping(self) -> None:
        """Raise ``ServiceUnavailable`` when the backend cannot be reached."""
