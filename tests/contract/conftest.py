"""One contract suite per backend interface, run against every implementation's real server."""

from __future__ import annotations

import uuid

import pytest

from convoinsight.storage.local_blobs import LocalBlobStore
from convoinsight.storage.postgres_documents import PostgresDocumentStore
from convoinsight.storage.postgres_pool import PostgresPool


@pytest.fixture(params=["postgres"])
def documents(request, postgres):
    if request.param == "postgres":
        pool = PostgresPool(postgres.url)
        yield PostgresDocumentStore(pool)
        pool.close()


@pytest.fixture(params=["local"])
def blobs(request, tmp_path):
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def tenant() -> str:
    return f"tenants/t-{uuid.uuid4().hex[:10]}"
