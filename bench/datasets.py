"""Dataset ingest and cached listings.

- Ingest of a ~1M-row CSV through the datasets function (read, normalise,
  profile, canonical Parquet, store) against plain ``pl.read_csv`` +
  ``write_parquet`` of the same bytes; goal <= 1.5x.
- Cached ``GET /{domain}`` in-process through the function's test client; goal p50 <= 3 ms.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from datetime import date, timedelta

import polars as pl

from bench.stack import local_stack, percentile

ROWS = 1_000_000


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


def _baseline(data: bytes) -> float:
    started = time.perf_counter()
    frame = pl.read_csv(io.BytesIO(data), try_parse_dates=True)
    frame.write_parquet(io.BytesIO())
    return time.perf_counter() - started


def run() -> dict:
    from tests.conftest import function_client

    data = synthetic_csv()
    with local_stack():
        client = function_client("datasets")
        user = {"X-User-Id": "bench"}
        ingest, baseline = [], []
        for _ in range(3):
            baseline.append(_baseline(data))
            started = time.perf_counter()
            resp = client.post("/big", headers=user, data={"file": (io.BytesIO(data), "orders.csv")})
            ingest.append(time.perf_counter() - started)
            assert resp.status_code == 201, resp.get_json()
        client.get("/big", headers=user)  # fill the cache
        listing = []
        for _ in range(300):
            started = time.perf_counter()
            client.get("/big", headers=user)
            listing.append((time.perf_counter() - started) * 1000)
    return {
        "csv_rows": ROWS,
        "csv_mb": round(len(data) / 1e6, 1),
        "ingest_s_median": round(statistics.median(ingest), 2),
        "read_csv_plus_write_parquet_s_median": round(statistics.median(baseline), 2),
        "ingest_vs_baseline_ratio": round(statistics.median(ingest) / statistics.median(baseline), 2),
        "cached_listing_ms_p50": round(percentile(listing, 50), 2),
        "cached_listing_ms_p95": round(percentile(listing, 95), 2),
    }
