"""Documents in Firestore (cloud mode), held to the same contract suite as the PostgreSQL store.

Collections are slash paths with an odd number of segments
(``tenants/<uid>/domains/<d>/datasets``); ``client.collection(path)`` maps them
one to one, so a tenant's data is one subtree of the database.

Indexes. Firestore serves single-field equality and single-field ordering from
its automatic indexes; ``list`` with ``where`` on one field and ``order_by``
on another needs a composite index in real Firestore (the emulator needs none,
so the tests cannot catch a missing one). This project uses:

- messages: ``role ==`` with ``order_by("seq")`` descending: composite index
  on collection ID ``messages`` (collection scope): ``role`` ASC, ``seq`` DESC;
  and ascending (a session's history, paged): ``role`` ASC, ``seq`` ASC;
- jobs: ``session_id ==`` with ``order_by("seq")`` descending (a session's newest jobs, paged): composite
  index on collection ID ``jobs``: ``session_id`` ASC, ``seq`` DESC;
- sessions: ``order_by("activity")`` alone; charts and jobs: ``session_id ==``
  alone: automatic single-field indexes;
- datasets, domains: ``order_by("name")`` alone: automatic single-field index;
- prompt versions (``deployment/prompts/<agent>``): ``order_by("version")`` alone: automatic single-field index.

Known difference from PostgreSQL, which the project does not rely on:
``where`` compares whole values (PostgreSQL's ``@>`` lets a list match a
superset). Ordered lists agree: by (field, id) in the chosen direction, without
the documents that lack the field, with the same (value, id) cursors.

Values. Documents are JSON objects, as in PostgreSQL: str, int (64-bit), finite
float, bool, None, lists and dicts with string keys; anything else is refused
on write, as ``json.dumps`` would refuse it there. Firestore cannot store an
array directly inside an array (table rows, ``sample_rows``), so such an inner
array is stored as ``{"_ci_array": [...]}`` and turned back on read; a dict of
the caller's own with that key is refused, which keeps the decoding exact.
Firestore itself also refuses empty keys and keys like ``__x__``. Strings,
keys, paths and ids with NUL (U+0000) are refused too, although Firestore could
store them: PostgreSQL cannot, and both stores keep one contract.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from convoinsight.errors import Conflict, ServiceUnavailable
from convoinsight.nul import NUL
from convoinsight.storage.documents import Ref, Write, batch_of, refs_of

_FIELD_RE = re.compile(r"[A-Za-z0-9_]+")
_ARRAY = "_ci_array"
TIMEOUT = 20.0  # seconds per RPC attempt
RETRY_DEADLINE = 30.0  # seconds for all attempts: a request gets a 503 before its function times out
PING_TIMEOUT = 5.0  # a readiness probe must answer quickly, retries included
_MAX_CAS_ATTEMPTS = 50


def _check_field(name: str) -> str:
    if not isinstance(name, str) or not _FIELD_RE.fullmatch(name):
        raise ValueError(f"bad field name {name!r}")
    return name


def _segments(path: str) -> list[str]:
    parts = path.split("/") if isinstance(path, str) else [""]
    if any(p in ("", ".", "..") or NUL in p for p in parts):
        raise ValueError(f"bad document path {path!r}")
    return parts


def _collection_path(path: str) -> str:
    if len(_segments(path)) % 2 == 0:
        raise ValueError(f"a collection path has an odd number of segments: {path!r}")
    return path


def _check_id(doc_id: str) -> str:
    # A slash would silently address a document in another (sub-)collection.
    if not isinstance(doc_id, str) or doc_id in ("", ".", "..") or "/" in doc_id or NUL in doc_id:
        raise ValueError(f"bad document id {doc_id!r}")
    return doc_id


def _encode(value: Any, in_array: bool = False) -> Any:
    if isinstance(value, str):
        if NUL in value:
            raise ValueError("NUL characters cannot be stored")
        return value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinity are not JSON values")
        return value
    if isinstance(value, dict):
        if _ARRAY in value:
            raise ValueError(f"the key {_ARRAY!r} is reserved by the document store")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"document keys must be strings, not {type(key).__name__}")
            if NUL in key:
                raise ValueError("NUL characters cannot be stored")
            out[key] = _encode(item)
        return out
    if isinstance(value, (list, tuple)):
        items = [_encode(item, True) for item in value]
        return {_ARRAY: items} if in_array else items
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _ARRAY in value:
            return [_decode(item) for item in value[_ARRAY]]
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    # Only documents written by something else can hold these; return JSON-like values, never Firestore types.
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if hasattr(value, "latitude") and hasattr(value, "longitude"):
        return {"latitude": value.latitude, "longitude": value.longitude}
    if hasattr(value, "path") and hasattr(value, "parent"):  # a DocumentReference
        return value.path
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.cache
def _retries() -> tuple:
    """Google's own retry policies for these RPCs (errors retried, backoff), with a deadline of RETRY_DEADLINE.

    The defaults wait up to 60 s for writes and 300 s for reads, longer than a
    request can. Writes keep the narrower list: a commit that timed out may
    have been applied, and retrying a create then would report a false conflict.
    """
    from google.api_core import exceptions as gx
    from google.api_core.retry import Retry, if_exception_type

    backoff = {"initial": 0.1, "maximum": 60.0, "multiplier": 1.3, "timeout": RETRY_DEADLINE}
    read = Retry(predicate=if_exception_type(gx.DeadlineExceeded, gx.InternalServerError, gx.ResourceExhausted,
                                             gx.ServiceUnavailable), **backoff)
    write = Retry(predicate=if_exception_type(gx.ResourceExhausted, gx.ServiceUnavailable), **backoff)
    return read, write


def _read() -> dict:
    return {"retry": _retries()[0], "timeout": TIMEOUT}


def _write() -> dict:
    return {"retry": _retries()[1], "timeout": TIMEOUT}


@contextmanager
def _unavailable() -> Iterator[None]:
    from google.api_core import exceptions as gx
    from google.auth.exceptions import TransportError

    try:
        yield
    except (gx.ServiceUnavailable, gx.DeadlineExceeded, gx.RetryError, gx.InternalServerError, gx.BadGateway,
            gx.GatewayTimeout, gx.TooManyRequests, TransportError) as exc:
        raise ServiceUnavailable(f"Firestore is unavailable: {exc}", code="firestore_unavailable") from exc


class FirestoreDocumentStore:
    def __init__(self, project: str, *, client=None, database: str | None = None):
        self.project = project
        self.database = database
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    def _db(self):
        # Created on first use, never at import: cold starts of functions that never touch Firestore stay cheap.
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import firestore

                    kwargs = {"database": self.database} if self.database else {}
                    self._client = firestore.Client(project=self.project, **kwargs)
                client = self._client
        return client

    def _ref(self, collection: str, doc_id: str):
        return self._db().collection(_collection_path(collection)).document(_check_id(doc_id))

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        ref = self._ref(collection, doc_id)
        with _unavailable():
            snap = ref.get(**_read())
        return _decode(snap.to_dict()) if snap.exists else None

    def get_many(self, refs: Sequence[Ref]) -> list[dict[str, Any] | None]:
        """One BatchGetDocuments call (``get_all``) for every ref; its answers come in any order."""
        refs = [(collection, doc_id) for collection, doc_id in refs]
        unique = refs_of(refs)
        if not unique:
            return []
        wanted = {key: self._ref(*key) for key in unique}  # every path checked before the call
        found: dict[str, dict[str, Any]] = {}
        with _unavailable():
            for snap in self._db().get_all(list(wanted.values()), **_read()):
                if snap.exists:
                    found[snap.reference.path] = _decode(snap.to_dict())
        return [found.get(wanted[(collection, doc_id)].path) for collection, doc_id in refs]

    def create(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        from google.api_core.exceptions import AlreadyExists

        ref, body = self._ref(collection, doc_id), _encode(data)
        try:
            with _unavailable():
                ref.create(body, **_write())
        except AlreadyExists:
            raise Conflict(f"document {doc_id!r} already exists", code="already_exists") from None

    def put(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        ref, body = self._ref(collection, doc_id), _encode(data)
        with _unavailable():
            ref.set(body, **_write())

    def put_many(self, writes: Sequence[Write]) -> None:
        """One batched write: Firestore commits every document of a batch, or none of them."""
        unique = batch_of(writes)
        if not unique:
            return
        batch = self._db().batch()
        # Every reference and body is built (and checked) before the commit: a bad one writes nothing.
        for ref, body in [(self._ref(c, i), _encode(d)) for (c, i), d in unique.items()]:
            batch.set(ref, body)
        with _unavailable():
            batch.commit(**_write())

    def put_if_newer(self, collection: str, doc_id: str, data: dict[str, Any], field: str) -> bool:
        """Compare-and-set on the document's update time instead of a transaction.

        Firestore transactions lock the document, and writers contending on one
        document wait on each other (seconds on the emulator); a precondition
        write never waits: a loser re-reads and decides again. Every retry means
        another writer succeeded, so the loop ends after at most one pass per
        concurrent writer.
        """
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition
        from google.cloud.firestore import DELETE_FIELD
        from google.cloud.firestore_v1.field_path import FieldPath

        _check_field(field)
        ref, body, db = self._ref(collection, doc_id), _encode(data), self._db()
        for _ in range(_MAX_CAS_ATTEMPTS):
            with _unavailable():
                snap = ref.get(**_read())
                if not snap.exists:
                    try:
                        ref.create(body, **_write())
                        return True
                    except AlreadyExists:
                        continue
                stored, new = (snap.to_dict() or {}).get(field), data.get(field)
                if stored is None or new is None:
                    return False  # as in SQL, a missing number compares as NULL: never newer
                if not (_number(stored) and _number(new)):
                    raise ValueError(f"field {field!r} must hold numbers")
                if not stored < new:
                    return False
                # update() with every top-level field replaced and the others deleted is a full replace that,
                # unlike set(), accepts a precondition. FieldPath quoting keeps dots in keys literal.
                changes = {FieldPath(k).to_api_repr(): v for k, v in body.items()}
                changes.update({FieldPath(k).to_api_repr(): DELETE_FIELD for k in snap.to_dict() if k not in body})
                try:
                    ref.update(changes, option=db.write_option(last_update_time=snap.update_time), **_write())
                    return True
                except FailedPrecondition:
                    continue
        raise ServiceUnavailable("too much contention on one document", code="firestore_unavailable")

    def delete(self, collection: str, doc_id: str) -> bool:
        from google.api_core.exceptions import NotFound

        ref = self._ref(collection, doc_id)
        try:
            with _unavailable():
                # The exists precondition makes "did it exist" part of the delete itself, as RETURNING does in SQL.
                ref.delete(option=self._db().write_option(exists=True), **_write())
        except NotFound:
            return False
        return True

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
        from google.cloud.firestore import Query
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        query = self._db().collection(_collection_path(collection))
        for key, value in (where or {}).items():
            query = query.where(filter=FieldFilter(FieldPath(key).to_api_repr(), "==", _encode(value)))
        if after is not None and not order_by:
            raise ValueError("a cursor needs order_by")
        if order_by:
            _check_field(order_by)
            direction = Query.DESCENDING if descending else Query.ASCENDING
            field = FieldPath(order_by).to_api_repr()
            # Ties by document id in the same direction (Firestore's implicit order, made explicit for cursors).
            query = query.order_by(field, direction=direction).order_by("__name__", direction=direction)
            if after is not None:
                value, doc_id = after
                _segments(str(doc_id))
                query = query.start_after({field: _encode(value), "__name__": str(doc_id)})
        if limit is not None:
            if int(limit) < 0:
                raise ValueError("limit must not be negative")
            if int(limit) == 0:
                return []
            query = query.limit(int(limit))
        with _unavailable():
            snaps = query.get(**_read())
        return [_decode(s.to_dict()) for s in snaps]

    def delete_tree(self, prefix: str) -> int:
        """Delete collection ``prefix`` and everything below it; a document path keeps the document itself.

        In PostgreSQL a document ``a/b`` lives in collection ``a``, not under
        prefix ``a/b``, so for an even (document) path only its sub-collections go.
        """
        db, parts = self._db(), _segments(prefix)
        with _unavailable():
            if len(parts) % 2:
                return self._delete_collection(db, db.collection(prefix))
            # Sub-collections are listed even when the document itself does not exist.
            return sum(self._delete_collection(db, col) for col in db.document(prefix).collections(**_read()))

    @staticmethod
    def _delete_collection(db, collection) -> int:
        done: list[int] = []
        writer = db.bulk_writer()
        # BulkWriter swallows failed writes and failed batches: count the successes and compare.
        writer.on_write_result(lambda ref, result, w: done.append(1))
        writer.on_write_error(lambda failure, w: failure.attempts < 5)
        listed = db.recursive_delete(collection, bulk_writer=writer)
        if len(done) != listed:
            raise ServiceUnavailable(f"deleted only {len(done)} of {listed} documents of {collection.id!r}",
                                     code="firestore_unavailable")
        return listed

    def increment(self, collection: str, doc_id: str, field: str, amount: int) -> None:
        """A server-side Increment transform: no transaction, so writers never wait on each other."""
        from google.cloud.firestore import Increment

        _check_field(field)
        with _unavailable():
            self._ref(collection, doc_id).set({field: Increment(int(amount))}, merge=True, **_write())

    def ping(self) -> None:
        with _unavailable():
            self._db().collection("health").document("ping").get(retry=_retries()[0].with_timeout(PING_TIMEOUT),
                                                                 timeout=PING_TIMEOUT)

    def close(self) -> None:
        """Close the client this store created (tests; a function keeps its client for the process)."""
        with self._lock:
            if self._owns_client and self._client is not None:
                self._client.close()
                self._client = None
