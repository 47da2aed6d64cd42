"""One contract suite per backend interface, run against every implementation's real server.

Servers are requested per parameter (``getfixturevalue``), so ``-k postgres``
never starts the Firestore emulator and ``-k firestore`` never starts PostgreSQL.
The cloud stores build their own clients lazily, exactly as in production; the
emulator variable they read is set for the current test only (monkeypatch, and
``isolate_environment`` restores the environment afterwards anyway).
"""

from __future__ import annotations

import uuid

import pytest

from convoinsight.storage.firestore_documents import FirestoreDocumentStore
from convoinsight.storage.gcs_blobs import GcsBlobStore
from convoinsight.storage.local_blobs import LocalBlobStore
from convoinsight.storage.postgres_documents import PostgresDocumentStore
from convoinsight.storage.postgres_pool import PostgresPool

GCP_PROJECT = "convoinsight-test"


@pytest.fixture(params=["postgres", "firestore"])
def documents(request, monkeypatch):
    if request.param == "postgres":
        pool = PostgresPool(request.getfixturevalue("postgres").url)
        yield PostgresDocumentStore(pool)
        pool.close()
    elif request.param == "firestore":
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", request.getfixturevalue("firestore_emulator").host)
        store = FirestoreDocumentStore(GCP_PROJECT)
        yield store
        store.close()


@pytest.fixture
def gcs_bucket(gcs_emulator, monkeypatch) -> str:
    """A fresh, empty bucket for one test, with the emulator set for the clients the test builds."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)
    return gcs_emulator.create_bucket(f"test-{uuid.uuid4().hex[:16]}")


@pytest.fixture(params=["local", "gcs"])
def blobs(request, tmp_path):
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
    elif request.param == "gcs":
        store = GcsBlobStore(request.getfixturevalue("gcs_bucket"), project=GCP_PROJECT)
        yield store
        store.close()


@pytest.fixture
def tenant() -> str:
    return f"tenants/t-{uuid.uuid4().hex[:10]}"
