"""XLSX through calamine (fastexcel): cell values only, with the zip checked before anything is loaded.

calamine never evaluates formulas: a formula cell yields the value Excel cached
when it last saved the file, or nothing if there is none. Before calamine sees
the file, the zip is inspected here with ``zipfile``: a workbook that would
expand far beyond its size (a zip bomb) or whose sheet declares more cells than
allowed is refused without being expanded.
"""

from __future__ import annotations

import html
import re
import struct
import zipfile
import zlib
from datetime import time
from pathlib import Path

import fastexcel
import polars as pl

from convoinsight.datasets.formats.common import Limits, short, unique_labels, unreadable
from convoinsight.errors import PayloadTooLarge, Unprocessable

MAX_RATIO = 100  # legitimate workbooks expand 5-20x; a zip bomb ~1000x
RATIO_FLOOR = 100 * 1024 * 1024  # small files may compress as well as they like
MAX_PART_BYTES = 1024 * 1024 * 1024  # any one part of the workbook, uncompressed
MAX_CELLS = 50_000_000
_HEAD_BYTES = 64 * 1024
_READ_BYTES = 1024 * 1024  # <dimension> sits right after the <worksheet> start tag
_PARSED_PART = re.compile(r"\.(xml|rels)$", re.IGNORECASE)  # what calamine reads (not images etc.)
_WORKBOOK = "xl/workbook.xml"
_SHEET = re.compile(r"<(?:\w+:)?sheet\b([^>]*)>")
_RELATION = re.compile(r"<(?:\w+:)?Relationship\b([^>]*)>")
_ATTRIBUTE = re.compile(r"([\w:]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*\bref\s*=\s*[\"']\$?([A-Z]{1,3})\$?(\d{1,7})"
                        rb"(?::\$?([A-Z]{1,3})\$?(\d{1,7}))?")
_DEDUPLICATED = re.compile(r"^(.*)_\d+$")  # fastexcel renames a repeated header "a" to "a_1"
_TRIM_HINT = " (if much of the sheet is empty, delete the unused rows and columns in Excel and save it again)"


def is_workbook(source: Path) -> bool:
    try:
        with zipfile.ZipFile(source) as archive:
            return _WORKBOOK in archive.NameToInfo
    except (zipfile.BadZipFile, OSError):
        return False


def read_xlsx(source: Path, sheet: str | None, limits: Limits) -> pl.DataFrame:
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError):
        raise unreadable("the Excel file is damaged or incomplete (it is not a readable ZIP package)") from None
    with archive:
        if _WORKBOOK not in archive.NameToInfo:
            raise unreadable("the file is a ZIP archive but not an Excel workbook (.xlsx)")
        _check_expansion(source, archive)
        try:
            reader = fastexcel.read_excel(str(source))
        except Exception as exc:  # calamine's errors have no common base worth naming
            raise unreadable(f"the Excel file could not be opened: {short(exc)}") from None
        parts = _sheet_parts(archive)
        name = _choose_sheet(reader.sheet_names, sheet, parts)
        _check_dimension(archive, parts.get(name, ("", True))[0], name, limits)
    try:
        # every row decides a column's type: with a sample, later text in a number column became null
        loaded = reader.load_sheet(name, schema_sample_rows=None)
        frame = pl.DataFrame(loaded)
    except Exception as exc:
        raise unreadable(f"the sheet {name!r} could not be read: {short(exc)}") from None
    labels, blank_header = _labels(reader, name, loaded.available_columns())
    frame.columns = labels
    return _tidy(frame, blank_header)


def _check_expansion(source: Path, archive: zipfile.ZipFile) -> None:
    """413 for a zip bomb: by the sizes the zip declares, then by actually inflating what calamine will parse."""
    infos = archive.infolist()
    declared = sum(info.file_size for info in infos)
    size = source.stat().st_size
    if declared > RATIO_FLOOR and declared > MAX_RATIO * size:
        raise PayloadTooLarge(f"the workbook would expand from {_mb(size)} to {_mb(declared)}, more than "
                              f"{MAX_RATIO} times its size; it was refused as a possible zip bomb", code="zip_bomb")
    for info in infos:
        if info.file_size > MAX_PART_BYTES:
            raise PayloadTooLarge(f"the workbook part {info.filename!r} expands to {_mb(info.file_size)}; the limit "
                                  f"is {_mb(MAX_PART_BYTES)} per part", code="file_too_large")
    # The declared sizes are only claims: a crafted zip can declare a small size and
    # inflate to gigabytes, so inflate each part calamine will parse, counting, and stop early.
    with open(source, "rb") as handle:
        for info in (i for i in infos if _PARSED_PART.search(i.filename)):
            _check_part(handle, info)


def _check_part(handle, info: zipfile.ZipInfo) -> None:
    actual = _inflated_size(handle, info)
    if actual > info.file_size:
        raise PayloadTooLarge(f"the workbook part {info.filename!r} expands beyond the size it declares; "
                              "it was refused as a possible zip bomb", code="zip_bomb")
    if actual < info.file_size:
        raise unreadable("the Excel file is damaged or incomplete (a part of it is cut short)")


def _inflated_size(handle, info: zipfile.ZipInfo) -> int:
    """Bytes the member really inflates to, counting no further than one byte past its declared size.

    The compressed bytes are read from the file 1 MB at a time: a part is never held whole."""
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30:
        raise unreadable("the Excel file is damaged (a part of the ZIP package is missing)")
    signature, name_length, extra_length = struct.unpack_from("<4s22xHH", header)
    if signature != b"PK\x03\x04":
        raise unreadable("the Excel file is damaged (a part of the ZIP package is missing)")
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    left = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        return len(handle.read(min(left, info.file_size + 1)))
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise unreadable("the Excel file uses a compression method Excel itself does not use")
    inflater, total, pending = zlib.decompressobj(-zlib.MAX_WBITS), 0, b""
    try:
        while total <= info.file_size:
            if not pending and left:
                pending = handle.read(min(left, _READ_BYTES))
                left -= len(pending)
            out = inflater.decompress(pending, 1024 * 1024)
            total += len(out)
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not out and not left):
                break
    except zlib.error:
        raise unreadable("the Excel file is damaged (a part of the ZIP package cannot be decompressed)") from None
    return total


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, tuple[str, bool]]:
    """Sheet name -> (path of its XML part in the zip, whether it is a visible worksheet), in workbook order."""
    workbook = _small_part(archive, _WORKBOOK)
    relations = _small_part(archive, "xl/_rels/workbook.xml.rels")
    targets = {}
    for match in _RELATION.finditer(relations):
        attrs = _attributes(match[1])
        target = attrs.get("Target", "")
        targets[attrs.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    parts = {}
    for match in _SHEET.finditer(workbook):
        attrs = _attributes(match[1])
        path = targets.get(next((v for k, v in attrs.items() if k.endswith(":id")), None), "")
        visible = attrs.get("state", "visible") == "visible" and "/worksheets/" in f"/{path}"
        parts[attrs.get("name", "")] = (path, visible)
    return parts


def _small_part(archive: zipfile.ZipFile, name: str) -> str:
    info = archive.NameToInfo.get(name)
    if info is None:
        return ""
    with archive.open(info) as part:  # sizes were verified above, so this read is bounded
        return part.read().decode("utf-8", errors="replace")


def _attributes(text: str) -> dict[str, str]:
    return {m[1]: html.unescape(m[2] if m[2] is not None else m[3]) for m in _ATTRIBUTE.finditer(text)}


def _choose_sheet(names: list[str], wanted: str | None, parts: dict[str, tuple[str, bool]]) -> str:
    if not names:
        raise Unprocessable("the workbook has no sheets", code="no_rows")
    if not wanted:
        # the first sheet a user sees: hidden sheets and chart sheets are skipped
        return next((n for n in names if parts.get(n, ("", True))[1]), names[0])
    found = next((n for n in names if n == wanted), None)  # Excel itself ignores case in sheet names
    found = found or next((n for n in names if n.casefold() == wanted.casefold()), None)
    if found is not None:
        return found
    listed = ", ".join(repr(n) for n in names)
    raise Unprocessable(f"the workbook has no sheet named {wanted!r}; its sheets are {listed}",
                        code="sheet_not_found", details={"sheets": names})


def _check_dimension(archive: zipfile.ZipFile, path: str, name: str, limits: Limits) -> None:
    """Refuse a sheet whose declared used range is too large, before calamine spends time parsing it."""
    info = archive.NameToInfo.get(path)
    if info is None:
        return
    with archive.open(info) as part:
        match = _DIMENSION.search(part.read(_HEAD_BYTES))
    if match is None or match[3] is None:  # no range declared, or a single cell
        return
    rows = abs(int(match[4]) - int(match[2])) + 1
    columns = abs(_column_number(match[3]) - _column_number(match[1])) + 1
    # The range is what the workbook declares: a stray cell far out inflates it, so say how to fix that.
    what, hint = f"the sheet {name!r}", _TRIM_HINT
    limits.check_columns(columns, what, hint)
    limits.check_rows(rows - 1, what, hint)  # the first row is the header
    if rows * columns > MAX_CELLS:
        raise PayloadTooLarge(f"{what} spans {rows:,} rows x {columns:,} columns ({rows * columns:,} cells); "
                              f"the limit is {MAX_CELLS:,} cells{hint}", code="too_many_cells")


def _labels(reader: fastexcel.ExcelReader, name: str, columns: list) -> tuple[list[str], list[bool]]:
    names = [c.name for c in columns]
    blank = [c.column_name_from == "generated" or not c.name.strip() for c in columns]
    present = set(names)
    if any((m := _DEDUPLICATED.match(n)) and m[1] in present for n in names):
        # A repeated header was renamed and "a_1" may also be a real header: read the
        # header row as it is (this loads the sheet a second time, hence only here).
        header = pl.DataFrame(reader.load_sheet(name, header_row=None, n_rows=1, dtypes="string")).row(0)
        raw = [header[c.absolute_index] if c.absolute_index < len(header) else None for c in columns]
    else:
        raw = [None if is_blank else n for n, is_blank in zip(names, blank, strict=True)]
    return unique_labels(raw), blank


def _tidy(frame: pl.DataFrame, blank_header: list[bool]) -> pl.DataFrame:
    """What ``pl.read_excel`` does after calamine: drop empty rows and unnamed empty columns, narrow types."""
    empty = [c for c, blank in zip(frame.columns, blank_header, strict=True) if blank and frame[c].is_null().all()]
    frame = frame.drop(empty)
    if frame.width:
        frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))
    casts = []
    for name, dtype in frame.schema.items():
        column = frame[name].drop_nulls()
        if column.is_empty():
            continue
        # Excel stores every number as a float: whole numbers are read back as integers
        if dtype == pl.Float64 and (column == column.floor()).all() and column.abs().max() < 2**53:
            casts.append(pl.col(name).cast(pl.Int64))
        elif dtype == pl.Datetime and (column.dt.time() == time(0)).all():
            casts.append(pl.col(name).cast(pl.Date))
    return frame.with_columns(casts) if casts else frame


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - ord("A") + 1
    return number


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MB" if size >= 1024 * 1024 else f"{size / 1024:,.1f} KB"
