"""Fixtures shared by the unit suites."""

from __future__ import annotations

import io

import pytest

from tests.conftest import function_client
from tests.support.data import SALES_CSV


@pytest.fixture
def shop(local_env, user_id):
    """The sample sales dataset in the domain "shop"; (queries client, the user's headers)."""
    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": user_id}
    assert datasets.post("/shop", headers=h,
                         data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")}).status_code == 201
    return queries, h


@pytest.fixture
def sources_env(local_env, customer_db, monkeypatch):
    """Local mode that may reach this machine's databases, with its own password key; (client, headers)."""
    from cryptography.fernet import Fernet

    from convoinsight.settings import get_settings

    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("FERNET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    return function_client("sources")


def connection_body(customer_db, name: str = "crm", user: str = "reader", **overrides) -> dict:
    """The JSON that registers the customer database as a connection (plaintext unless overridden)."""
    password = customer_db.reader_password if user == "reader" else customer_db.writer_password
    return {"name": name, "host": "127.0.0.1", "port": customer_db.port, "database": "shop", "user": user,
            "password": password, "schema": "crm", "sslmode": "disable", **overrides}
