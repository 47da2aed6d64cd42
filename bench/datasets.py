"""Dataset ingest and cached listings.

- Ingest of a ~1M-row CSV through the ``ingest`` function's finalize event (read,
  normalise, profile, canonical Parquet, store) against plain ``pl.read_csv`` +
  ``write_parquet`` of the same bytes; goal <= 1.5x.
- Cached ``GET /{domain}`` in-process through the function's test client; goal p50 <= 3 ms.
"""

from __future__ import annotations

import io
import json
import random
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from bench.stack import local_stack, percentile

ROWS = 1_000_000
RUNS = 7


def synthetic_csv(rows: int = ROWS) -> bytes:
    rng = random.Random(7)
    start = date(2020, 1, 1)
    n = rows
    frame = pl.DataFrame({
        "order_id": range(n),
        "order_date": [start + timedelta(days=rng.randrange(1500)) for _ in range(n)],
        "region": [rng.choice(["North", "South", "East", "West"]) for _ in range(n)],
        "product": [f"SKU-{rng.randrange(500):04d}" for _ in range(n)],
        "units": [rng.randrange(1, 50) for _ in range(n)],
        "unit_price": [round(rng.uniform(1, 500), 2) for _ in range(n)],
        "discount": [round(rng.random() * 0.3, 3) for _ in range(n)],
        "comment": [rng.choice(["", "gift", "rush order", "returning customer, loyal"]) for _ in range(n)],
    })
    return frame.write_csv().encode()


def _baseline_file(source: Path, target: Path) -> float:
    """The plain way on the same file: read the CSV file, write a Parquet file."""
    started = time.perf_counter()
    pl.read_csv(source, try_parse_dates=True).write_parquet(target)
    return time.perf_counter() - started


def _baseline_memory(data: bytes) -> float:
    """The same with no disk at all (a stricter baseline than the ingest can ever meet: it stores files)."""
    started = time.perf_counter()
    pl.read_csv(io.BytesIO(data), try_parse_dates=True).write_parquet(io.BytesIO())
    return time.perf_counter() - started


def _ingest_once(client, ingest, services, data: bytes) -> float:
    """A large file's real path: signed upload record, object stored, then the finalize event timed."""
    user = {"X-User-Id": "bench"}
    signed = client.post("/big/uploads", headers=user, json={"filename": "orders.csv"}).get_json()
    services.blobs.put(signed["object"], data)
    event = {"bucket": "local", "name": signed["object"], "size": str(len(data)), "generation": "1"}
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.finalized",
               "ce-source": "//storage.googleapis.com/projects/_/buckets/local", "ce-id": signed["upload_id"],
               "Content-Type": "application/json"}
    started = time.perf_counter()
    resp = ingest.post("/", data=json.dumps(event), headers=headers)
    elapsed = time.perf_counter() - started
    status = client.get(f"/big/uploads/{signed['upload_id']}", headers=user).get_json()
    assert resp.status_code == 200 and status["status"] == "ready", status
    return elapsed


def run() -> dict:
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings
    from tests.conftest import function_client

    data = synthetic_csv()
    with local_stack() as root:
        source = root / "orders.csv"
        source.write_bytes(data)
        client, ingest_fn = function_client("datasets"), function_client("ingest")
        services = get_services(get_settings())
        user = {"X-User-Id": "bench"}
        ingest, baseline, in_memory = [], [], []
        for _ in range(RUNS):
            baseline.append(_baseline_file(source, root / "orders.parquet"))
            in_memory.append(_baseline_memory(data))
            ingest.append(_ingest_once(client, ingest_fn, services, data))
        client.get("/big", headers=user)  # fill the cache
        listing = []
        for _ in range(300):
            started = time.perf_counter()
            client.get("/big", headers=user)
            listing.append((time.perf_counter() - started) * 1000)
    return {
        "csv_rows": ROWS,
        "csv_mb": round(len(data) / 1e6, 1),
        "ingest_s_median": round(statistics.median(ingest), 3),
        "read_csv_plus_write_parquet_file_s_median": round(statistics.median(baseline), 3),
        "in_memory_read_write_s_median": round(statistics.median(in_memory), 3),
        "ingest_vs_file_baseline_ratio": round(statistics.median(ingest) / statistics.median(baseline), 2),
        "ingest_vs_in_memory_ratio": round(statistics.median(ingest) / statistics.median(in_memory), 2),
        "cached_listing_ms_p50": round(percentile(listing, 50), 2),
        "cached_listing_ms_p95": round(percentile(listing, 95), 2),
    }
