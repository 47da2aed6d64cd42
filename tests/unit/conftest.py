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
