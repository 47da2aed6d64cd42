"""Parquet: any valid file; the footer is read first so an oversized or too deeply nested file is refused unread.

A file that is already canonical (identifier column names, types every reader of ours handles,
a codec DuckDB and Polars both read, row groups of a bounded size) is copied as it is rather
than decoded and encoded again; any other is streamed through Polars into a new file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa

from convoinsight.datasets.formats.common import Limits, short, unique_labels, unreadable
from convoinsight.datasets.naming import unique_identifiers
from convoinsight.datasets.nesting import check_parquet_depth

# Row groups are what readers hold in memory at a time: a file written as one huge group is re-encoded.
MAX_ROW_GROUP_ROWS = 1_048_576
_CODECS = {"UNCOMPRESSED", "SNAPPY", "GZIP", "ZSTD", "LZ4_RAW"}


def convert_parquet(source: Path, out: Path, limits: Limits, max_depth: int) -> tuple[list[str], bool]:
    """Write the canonical copy at ``out``; returns the labels and whether the file was copied unchanged."""
    import pyarrow.parquet as pq

    try:
        schema = check_parquet_depth(source, max_depth)
        metadata = pq.read_metadata(source)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable(f"the Parquet file is damaged or incomplete: {short(exc)}") from None
    # The row count and schema live in the footer: checking them costs no data reading.
    limits.check_columns(len(schema))
    limits.check_rows(metadata.num_rows)
    names = list(schema.names)
    labels = unique_labels(names)
    idents = unique_identifiers(labels)
    try:
        if idents == names and _canonical(schema, metadata):
            shutil.copyfile(source, out)
            return labels, True
        scan = pl.scan_parquet(source)
        scan.rename(dict(zip(scan.collect_schema().names(), idents, strict=True))).sink_parquet(out)
    except pl.exceptions.PolarsError as exc:
        raise unreadable(f"the Parquet file is damaged or incomplete: {short(exc)}") from None
    except OSError as exc:
        raise unreadable(f"the Parquet file could not be read: {short(exc)}") from None
    return labels, False


def _canonical(schema: pa.Schema, metadata) -> bool:
    if any(not _plain(field.type) for field in schema):
        return False
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        if row_group.num_rows > MAX_ROW_GROUP_ROWS:
            return False
        if any(row_group.column(c).compression not in _CODECS for c in range(row_group.num_columns)):
            return False
    return True


def _plain(dtype: pa.DataType) -> bool:
    """Types the canonical files hold as they are (what Polars writes); anything else is re-encoded."""
    stack = [dtype]
    while stack:
        current = stack.pop()
        if pa.types.is_list(current) or pa.types.is_large_list(current) or pa.types.is_struct(current):
            stack.extend(current.field(i).type for i in range(current.num_fields))
            continue
        if not (pa.types.is_integer(current) or current in (pa.float32(), pa.float64(), pa.bool_())
                or pa.types.is_string(current) or pa.types.is_large_string(current)
                or pa.types.is_string_view(current) or pa.types.is_date32(current)
                or (pa.types.is_timestamp(current) and current.unit in ("ms", "us", "ns"))
                or pa.types.is_decimal128(current)):
            return False
    return True
