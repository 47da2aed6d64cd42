"""Write a schema's tables as files, the way a data team would upload them to the product.

CSV: a header row, comma-separated, ISO dates ("2024-02-29"), timestamps as "2024-02-29 13:05:00" (with a
fraction only when there is one: "…:00.250"), booleans as true/false, money as fixed two-decimal text, NULL as an
empty cell and the empty string as "". Parquet: the frame's own types (decimal128(10,2) money, date32,
timestamp[us] without zone, bool, int64, string).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Literal


def write_tables(schema: ModuleType, folder: Path, fmt: Literal["parquet", "csv"]) -> list[Path]:
    """Write every table of `schema` into `folder` as <table>.parquet or <table>.csv; return the paths."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown format {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in schema.TABLES.items():
        path = folder / f"{name}.{fmt}"
        if fmt == "parquet":
            table.frame.write_parquet(path)
        else:
            table.frame.write_csv(path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S%.f",
                                  null_value="")
        paths.append(path)
    return paths
