"""A large file through `make dev`: signed URL, PUT, the emulator's finalize event, then the dataset."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.data import SALES_CSV

pytestmark = pytest.mark.slow


def test_signed_upload_through_the_emulator(emulator):
    h = {"X-User-Id": "e2e-signed"}
    signed = requests.post(emulator.url("datasets", "/big/uploads"), headers=h,
                           json={"filename": "sales.csv", "name": "orders"}, timeout=10).json()
    assert signed["url"].startswith(f"http://127.0.0.1:{emulator.port}/_storage/upload?")
    put = requests.put(signed["url"], data=SALES_CSV.read_bytes(), headers=signed["headers"], timeout=30)
    assert put.status_code == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = requests.get(emulator.url("datasets", f"/big/uploads/{signed['upload_id']}"), headers=h,
                              timeout=10).json()
        if status["status"] != "pending":
            break
        time.sleep(0.1)
    assert status["status"] == "ready" and status["rows"] == 600
    record = requests.get(emulator.url("datasets", "/big/orders?limit=1"), headers=h, timeout=10).json()
    assert record["rows"] == 600 and record["preview"]["rows"][0][1] == "North"
    replay = requests.put(signed["url"].replace("signature=", "signature=0"), data=b"x", headers=signed["headers"],
                          timeout=10)
    assert replay.status_code == 403
