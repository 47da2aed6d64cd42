"""The upload readers on their own: every format, encoding and delimiter, and every way a file can be bad."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import time
import zipfile
from collections.abc import Callable

import polars as pl
import pytest
import xlsxwriter

from convoinsight.datasets.formats import excel
from convoinsight.datasets.readers import detect_format, read_table
from convoinsight.errors import ConvoInsightError


def refused(data: bytes, fmt: str, **kwargs) -> ConvoInsightError:
    with pytest.raises(ConvoInsightError) as caught:
        read_table(data, fmt, **kwargs)
    return caught.value


def assert_refused(data: bytes, fmt: str, status: int, code: str, *phrases: str, **kwargs) -> ConvoInsightError:
    error = refused(data, fmt, **kwargs)
    assert (error.status, error.code) == (status, code), error.message
    for phrase in phrases:
        assert phrase in error.message, error.message
    return error


# --- builders -----------------------------------------------------------------------------------------------------


def workbook(build: Callable[[xlsxwriter.Workbook], None]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    build(book)
    book.close()
    return buffer.getvalue()


def simple_workbook(rows: int = 3) -> bytes:
    def build(book):
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["region", "sales"])
        for i in range(1, rows + 1):
            sheet.write_row(i, 0, [f"r{i}", i * 10])
    return workbook(build)


def rewrite(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The same zip with one member's bytes changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            target.writestr(info.filename, change(content) if info.filename == name else content)
    return out.getvalue()


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


SHEET1 = "xl/worksheets/sheet1.xml"


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A real workbook plus 200 MB of zeros that deflate to under 1 MB (built once: ~0.3 s)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(simple_workbook())) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        with target.open("xl/media/padding.bin", "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(200):
                member.write(chunk)
    return out.getvalue()


# --- detect_format ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("a.csv", "csv"), ("A.TSV", "tsv"), ("x.parquet", "parquet"),
                                           ("x.pq", "parquet"), ("b.xlsx", "xlsx"), ("c.json", "json"),
                                           ("d.ndjson", "ndjson"), ("d.jsonl", "ndjson")])
def test_detect_format_by_extension(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["notes.txt", "archive.zip", "old.xls", "noextension", ""])
def test_unknown_extensions_are_415(name):
    with pytest.raises(ConvoInsightError) as caught:
        detect_format(name)
    assert caught.value.status == 415 and caught.value.code == "unsupported_file_type"
    assert ".csv" in caught.value.message


# --- CSV / TSV: encodings and delimiters --------------------------------------------------------------------------

TEXT = "name,city,amount\nJosé,Zürich,€5\nÅsa,Köln,3\n"


@pytest.mark.parametrize("encode", [
    pytest.param(lambda t: t.encode("utf-8"), id="utf-8"),
    pytest.param(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"), id="utf-8-bom"),
    pytest.param(lambda t: b"\xff\xfe" + t.encode("utf-16-le"), id="utf-16-le"),
    pytest.param(lambda t: b"\xfe\xff" + t.encode("utf-16-be"), id="utf-16-be"),
    pytest.param(lambda t: t.encode("cp1252"), id="cp1252"),
])
def test_every_encoding_reads_the_same_text(encode):
    frame = read_table(encode(TEXT), "csv")
    assert frame.columns == ["name", "city", "amount"]  # no BOM left on the first label
    assert frame.rows() == [("José", "Zürich", "€5"), ("Åsa", "Köln", "3")]


def test_latin1_bytes_undefined_in_cp1252_still_decode():
    frame = read_table(b"code\n\x81\x8d\xe9\n", "csv")
    assert frame["code"].to_list() == ["\x81\x8dé"]


@pytest.mark.parametrize("separator", [",", ";", "\t", "|"])
def test_every_delimiter_is_detected(separator):
    text = separator.join(["id", "label", "value"]) + "\n"
    text += "".join(separator.join([str(i), f"item {i}", f"{i}.5"]) + "\n" for i in range(5))
    frame = read_table(text.encode(), "csv")
    assert frame.columns == ["id", "label", "value"]
    assert frame.schema["id"] == pl.Int64 and frame.schema["value"] == pl.Float64
    assert frame.row(1) == (1, "item 1", 1.5)


def test_semicolon_csv_with_commas_in_values_and_decimal_commas():
    frame = read_table(b"name;price, EUR;qty\nSmith, John;3,5;1\nDoe, Jane;10,25;2\n", "csv")
    assert frame.columns == ["name", "price, EUR", "qty"]
    assert frame.rows() == [("Smith, John", 3.5, 1), ("Doe, Jane", 10.25, 2)]


def test_tsv_is_tab_separated_even_with_commas_in_values():
    frame = read_table(b"a\tb\n1,5\tx, y\n", "tsv")
    assert frame.rows() == [("1,5", "x, y")]


def test_quoted_fields_keep_delimiters_quotes_and_newlines():
    data = b'id,comment,n\r\n1,"hello, world",2\r\n2,"two\nlines ""quoted""",3\r\n3,plain,4\r\n'
    frame = read_table(data, "csv")
    assert frame["comment"].to_list() == ["hello, world", 'two\nlines "quoted"', "plain"]
    assert frame["n"].to_list() == [2, 3, 4]


def test_quotes_inside_unquoted_values_are_kept_as_text():
    frame = read_table(b'size,alt,note\n5"3,6"4,\n1,2,x\n', "csv")
    assert frame.rows() == [('5"3', '6"4', None), ("1", "2", "x")]


def test_classic_mac_line_endings():
    assert read_table(b"a,b\r1,2\r3,4\r", "csv").rows() == [(1, 2), (3, 4)]


def test_single_column_csv():
    assert read_table(b"city\nParis\nRome\n", "csv")["city"].to_list() == ["Paris", "Rome"]


# --- CSV: types ---------------------------------------------------------------------------------------------------


def test_iso_dates_and_datetimes_are_parsed_but_ambiguous_dates_stay_text():
    data = (b"day,at,ambiguous,day_first\n"
            b"2024-01-02,2024-01-02T03:04:05,01/02/2024,31/12/2024\n"
            b"2024-02-03,2024-02-03 10:00:00,03/04/2024,01/02/2024\n")
    frame = read_table(data, "csv")
    assert frame.schema["day"] == pl.Date
    assert frame.schema["at"] == pl.Datetime("us")
    assert frame.schema["ambiguous"] == pl.String  # January 2nd or February 1st: not guessed
    assert frame.schema["day_first"] == pl.Date  # 31/12 settles it
    assert frame["day"][0] == dt.date(2024, 1, 2) and frame["at"][1] == dt.datetime(2024, 2, 3, 10)
    assert frame["day_first"].to_list() == [dt.date(2024, 12, 31), dt.date(2024, 2, 1)]


def test_a_type_change_after_the_inference_window_widens_the_column():
    head = b"id,v,w\n" + b"".join(b"%d,%d,%d\n" % (i, i, i) for i in range(300))
    frame = read_table(head + b"300,1.5,n/a\n", "csv")
    assert frame.schema["id"] == pl.Int64
    assert frame.schema["v"] == pl.Float64 and frame["v"][-1] == 1.5
    assert frame.schema["w"] == pl.String and frame["w"][-1] == "n/a"
    assert frame.height == 301


def test_a_column_empty_at_the_top_still_gets_its_type():
    data = b"id,late_number,late_day\n" + b"".join(b"%d,,\n" % i for i in range(300))
    frame = read_table(data + b"300,7,2024-05-06\n", "csv")
    assert frame.schema["late_number"] == pl.Int64 and frame["late_number"][-1] == 7
    assert frame.schema["late_day"] == pl.Date


# --- CSV: headers -------------------------------------------------------------------------------------------------


def test_duplicate_and_empty_headers_get_unique_labels_keeping_the_original_text():
    frame = read_table(b"a,a,,b,a, \n1,2,3,4,5,6\n", "csv")
    assert frame.columns == ["a", "a (2)", "column_3", "b", "a (3)", "column_6"]
    assert frame.row(0) == (1, 2, 3, 4, 5, 6)


def test_a_suffixed_label_never_takes_a_real_header():
    assert read_table(b"a,a,a (2)\n1,2,3\n", "csv").columns == ["a", "a (3)", "a (2)"]


def test_sql_keywords_as_headers_load_normally():
    frame = read_table(b"select,from,order,group,date\n1,2,3,4,2024-01-01\n", "csv")
    assert frame.columns == ["select", "from", "order", "group", "date"]
    assert frame.row(0) == (1, 2, 3, 4, dt.date(2024, 1, 1))


# --- CSV: bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\n\t ", b"\xef\xbb\xbf", b"\xff\xfe" + "  \n".encode("utf-16-le")])
def test_empty_files_are_400(data):
    assert_refused(data, "csv", 400, "empty_file", "empty")


def test_header_only_is_422_no_rows():
    assert_refused(b"a,b,c\n", "csv", 422, "no_rows", "no data rows")
    assert_refused(b"a,b,c\n\n\n", "csv", 422, "no_rows")


def test_binary_garbage_named_csv_is_422():
    assert_refused(bytes(range(256)) * 20, "csv", 422, "unreadable_file", "binary")


def test_a_short_row_is_422_naming_the_line():
    assert_refused(b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "csv", 422, "ragged_rows", "line 3", "2 values", "3 columns")


def test_a_long_row_is_422_naming_the_line():
    assert_refused(b"a,b,c\n1,2,3\n6,7,8\n4,5,6,7\n", "csv", 422, "ragged_rows", "line 4", "4 values", "3 columns")


def test_a_short_row_after_a_multiline_value_is_found_too():
    data = b'a,b,c\n1,"x\ny",3\n4,5\n'
    assert_refused(data, "csv", 422, "ragged_rows", "line 4", "2 values")


def test_empty_last_values_are_not_short_rows_and_blank_lines_are_dropped():
    frame = read_table(b'a,b,c\n1,2,\n\n4,"5,5",\n\n7,8,9\n\n\n', "csv")
    assert frame.rows() == [(1, "2", None), (4, "5,5", None), (7, "8", 9)]


def test_many_rows_with_empty_last_values_and_a_short_row_far_down():
    rows = b"".join(b'%d,"v, %d",\n' % (i, i) for i in range(5000))
    assert_refused(b"a,b,c\n" + rows + b"1,2\n", "csv", 422, "ragged_rows", "line 5,002")


# --- content that does not match the name -------------------------------------------------------------------------


def test_workbook_named_csv_is_415_content_mismatch():
    assert_refused(simple_workbook(), "csv", 415, "content_mismatch", "named .csv", "an Excel workbook", ".xlsx")


def test_parquet_named_tsv_or_json_is_415_content_mismatch():
    data = parquet_bytes(pl.DataFrame({"a": [1]}))
    assert_refused(data, "tsv", 415, "content_mismatch", "named .tsv", "a Parquet file")
    assert_refused(data, "json", 415, "content_mismatch", "named .json", "a Parquet file")


def test_plain_zip_named_ndjson_is_415():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert_refused(buffer.getvalue(), "ndjson", 415, "content_mismatch", "a ZIP archive")


def test_text_named_parquet_or_xlsx_is_415_content_mismatch():
    assert_refused(b"a,b\n1,2\n", "parquet", 415, "content_mismatch", "named .parquet", "text")
    assert_refused(b"a,b\n1,2\n", "xlsx", 415, "content_mismatch", "named .xlsx", "text")


def test_parquet_named_xlsx_and_old_xls_named_xlsx_are_415():
    assert_refused(parquet_bytes(pl.DataFrame({"a": [1]})), "xlsx", 415, "content_mismatch", "a Parquet file")
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    assert_refused(ole2, "xlsx", 415, "content_mismatch", ".xls")


def test_zip_that_is_not_a_workbook_named_xlsx_is_422():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert_refused(buffer.getvalue(), "xlsx", 422, "unreadable_file", "not an Excel workbook")


def test_binary_named_parquet_is_422():
    assert_refused(bytes(range(256)) * 4, "parquet", 422, "unreadable_file", "not a valid Parquet file")


# --- XLSX ---------------------------------------------------------------------------------------------------------


def test_xlsx_first_sheet_by_default_and_sheet_by_name():
    def build(book):
        first = book.add_worksheet("Sales")
        first.write_row(0, 0, ["region", "amount"])
        first.write_row(1, 0, ["North", 10.5])
        other = book.add_worksheet("Targets")
        other.write_row(0, 0, ["region", "target"])
        other.write_row(1, 0, ["North", 12])
    data = workbook(build)
    assert read_table(data, "xlsx").rows() == [("North", 10.5)]
    chosen = read_table(data, "xlsx", sheet="Targets")
    assert chosen.columns == ["region", "target"] and chosen.rows() == [("North", 12)]
    assert read_table(data, "xlsx", sheet="targets").columns == ["region", "target"]  # as Excel: case-insensitive
    assert read_table(data, "xlsx", sheet="").columns == ["region", "amount"]  # an empty form field: the default


def test_xlsx_unknown_sheet_is_422_listing_the_sheets():
    error = assert_refused(simple_workbook(), "xlsx", 422, "sheet_not_found", "'Budget'", "'Data'", sheet="Budget")
    assert error.details == {"sheets": ["Data"]}


def test_xlsx_default_skips_a_hidden_first_sheet():
    def build(book):
        hidden = book.add_worksheet("Lookup")
        hidden.write_row(0, 0, ["code"])
        hidden.write_row(1, 0, ["x"])
        hidden.hide()
        visible = book.add_worksheet("Data")
        visible.write_row(0, 0, ["value"])
        visible.write_row(1, 0, [1])
        visible.activate()
    assert read_table(workbook(build), "xlsx").columns == ["value"]


def test_xlsx_formulas_give_cached_values_never_formula_text():
    def build(book):
        sheet = book.add_worksheet("Calc")
        sheet.write_row(0, 0, ["a", "b", "total", "label"])
        for row in (1, 2):
            sheet.write_row(row, 0, [row, row * 10])
            sheet.write_formula(row, 2, f"=A{row + 1}+B{row + 1}", None, row * 11)
            sheet.write_formula(row, 3, f'=IF(A{row + 1}>1,"big","small")', None, "big" if row > 1 else "small")
    frame = read_table(workbook(build), "xlsx")
    assert frame.rows() == [(1, 10, 11, "small"), (2, 20, 22, "big")]
    assert not any("=" in str(value) or "A2" in str(value) for row in frame.rows() for value in row)


def test_xlsx_formula_without_a_cached_value_is_empty():
    def build(book):
        sheet = book.add_worksheet("Calc")
        sheet.write_row(0, 0, ["a", "doubled"])
        sheet.write_row(1, 0, [1])
        sheet.write_formula(1, 1, "=A2*2")
        sheet.write_row(2, 0, [2])
        sheet.write_formula(2, 1, "=A3*2", None, 4)
    # XlsxWriter always stores a cached 0; take it out as a file saved without calculation would be
    data = rewrite(workbook(build), SHEET1, lambda xml: xml.replace(b"<f>A2*2</f><v>0</v>", b"<f>A2*2</f>"))
    frame = read_table(data, "xlsx")
    assert frame["doubled"].to_list() == [None, 4]


def test_xlsx_duplicate_and_blank_headers():
    def build(book):
        sheet = book.add_worksheet("Data")
        sheet.write_row(0, 0, ["a", "a", "a_1", "", "select"])
        sheet.write_row(1, 0, [1, 2, 3, 4, 5])
    frame = read_table(workbook(build), "xlsx")
    assert frame.columns == ["a", "a (2)", "a_1", "column_4", "select"]
    assert frame.row(0) == (1, 2, 3, 4, 5)


def test_xlsx_dates_and_numbers_keep_their_types():
    def build(book):
        sheet = book.add_worksheet("Data")
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        sheet.write_row(0, 0, ["day", "at", "count", "price"])
        sheet.write_datetime(1, 0, dt.datetime(2024, 1, 2), day)
        sheet.write_datetime(1, 1, dt.datetime(2024, 1, 2, 9, 30), stamp)
        sheet.write_row(1, 2, [3, 9.99])
    frame = read_table(workbook(build), "xlsx")
    assert frame.schema["day"] == pl.Date and frame.schema["at"].base_type() == pl.Datetime
    assert frame.schema["count"] == pl.Int64 and frame.schema["price"] == pl.Float64
    assert frame.row(0) == (dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 9, 30), 3, 9.99)


def test_xlsx_declaring_the_whole_grid_is_413_before_loading():
    data = rewrite(simple_workbook(), SHEET1, lambda xml: re.sub(rb'<dimension ref="[^"]+"/>',
                                                                 b'<dimension ref="A1:XFD1048576"/>', xml))
    assert_refused(data, "xlsx", 413, "too_many_cells", "1,048,576 rows", "16,384 columns", "50,000,000",
                   "delete the unused rows and columns")
    assert_refused(data, "xlsx", 413, "too_many_columns", "the limit is 100", max_columns=100)
    assert_refused(data, "xlsx", 413, "too_many_rows", "1,048,575 rows", "the limit is 1,000,000",
                   max_rows=1_000_000)


def test_xlsx_rows_over_the_limit_are_413_from_the_dimension():
    assert_refused(simple_workbook(rows=10), "xlsx", 413, "too_many_rows", "10 rows", "the limit is 5", max_rows=5)


def test_xlsx_zip_bomb_is_413(zip_bomb):
    assert len(zip_bomb) < 2 * 1024 * 1024
    assert_refused(zip_bomb, "xlsx", 413, "zip_bomb", "zip bomb", "times its size")


def test_xlsx_part_over_the_size_cap_is_413(monkeypatch):
    monkeypatch.setattr(excel, "MAX_PART_BYTES", 200)
    assert_refused(simple_workbook(), "xlsx", 413, "file_too_large", "the limit is", "per part")


def test_xlsx_part_that_inflates_beyond_its_declared_size_is_413():
    original = simple_workbook()
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        local = archive.getinfo(SHEET1).header_offset
        central = original.index(SHEET1.encode(), archive.start_dir) - 46  # the entry's fixed part precedes its name
    data = bytearray(original)
    # claim 100 bytes uncompressed, in the local header and in the central directory
    struct.pack_into("<I", data, local + 22, 100)
    struct.pack_into("<I", data, central + 24, 100)
    assert_refused(bytes(data), "xlsx", 413, "zip_bomb", "beyond the size it declares")


def test_damaged_xlsx_is_422():
    assert_refused(simple_workbook()[:2000], "xlsx", 422, "unreadable_file", "damaged")


def test_xlsx_with_only_a_header_is_422_no_rows():
    def build(book):
        book.add_worksheet("Data").write_row(0, 0, ["a", "b"])
    assert_refused(workbook(build), "xlsx", 422, "no_rows")


# --- Parquet ------------------------------------------------------------------------------------------------------


def test_parquet_reads_any_valid_file():
    frame = pl.DataFrame({"day": [dt.date(2024, 1, 1)], "n": [1], "tags": [["x", "y"]]})
    assert read_table(parquet_bytes(frame), "parquet").equals(frame)


@pytest.mark.parametrize("data", [b"PAR1\x00\x00garbage", parquet_bytes(pl.DataFrame({"a": range(100)}))[:-40]])
def test_damaged_parquet_is_422(data):
    assert_refused(data, "parquet", 422, "unreadable_file", "Parquet file is damaged")


def test_parquet_over_the_row_limit_is_413_from_the_footer():
    data = parquet_bytes(pl.DataFrame({"a": range(50)}))
    assert_refused(data, "parquet", 413, "too_many_rows", "50 rows", "the limit is 10", max_rows=10)


# --- JSON and NDJSON ----------------------------------------------------------------------------------------------


def test_json_array_of_objects_with_nested_values_and_late_keys():
    records = [{"id": i, "day": "2024-01-02"} for i in range(150)]
    records.append({"id": 150, "day": "2024-01-03", "meta": {"source": "api"}, "tags": ["a", "b"]})
    frame = read_table(json.dumps(records).encode(), "json")
    assert frame.columns == ["id", "day", "meta", "tags"]
    assert frame.schema["day"] == pl.Date
    assert frame.row(150) == (150, dt.date(2024, 1, 3), {"source": "api"}, ["a", "b"])


@pytest.mark.parametrize(("data", "phrase"), [
    (b'{"a": 1}', "a single object"),
    (b"[1, 2, 3]", "plain values"),
    (b'[{"a": 1}, 2]', "item 2 of the array is a number"),
    (b"42", "a number"),
])
def test_json_that_is_not_an_array_of_objects_is_422(data, phrase):
    assert_refused(data, "json", 422, "unreadable_file", "array of objects", phrase)


def test_broken_json_is_422_with_a_line():
    assert_refused(b'[{"a": 1},\n {"a": ', "json", 422, "unreadable_file", "not valid JSON", "line 2")
    assert_refused(b'[{"a": 1}] extra', "json", 422, "unreadable_file", "after the end of the array")


def test_json_objects_whose_fields_clash_are_422():
    assert_refused(b'[{"a": 1}, {"a": {"x": 1}}]', "json", 422, "unreadable_file", "do not fit one table")
    assert_refused(b'{"a": 1}\n{"a": {"x": 1}}\n', "ndjson", 422, "unreadable_file", "do not fit one table")


def test_empty_json_array_is_422_no_rows():
    assert_refused(b"[ ]", "json", 422, "no_rows")


def test_ndjson_ignores_blank_lines_and_keeps_late_keys():
    lines = [json.dumps({"id": i}) for i in range(150)] + ["", "   ", json.dumps({"id": 150, "note": "late"})]
    frame = read_table("\n".join(lines).encode(), "ndjson")
    assert frame.height == 151 and frame["note"].to_list()[-1] == "late"


@pytest.mark.parametrize(("data", "phrase"), [
    (b'{"a": 1}\n{"a": \n{"a": 3}\n', "line 2 is not valid JSON"),
    (b'{"a": 1}\n\n5\n', "line 3 holds a number"),
    (b'[{"a": 1}]\n', "should be named .json"),
])
def test_bad_ndjson_line_is_422_naming_it(data, phrase):
    assert_refused(data, "ndjson", 422, "unreadable_file", phrase)


# --- limits -------------------------------------------------------------------------------------------------------


def test_row_and_column_limits_are_413_with_the_limit():
    data = b"a,b,c\n" + b"1,2,3\n" * 12
    assert_refused(data, "csv", 413, "too_many_rows", "12 rows", "the limit is 10", max_rows=10)
    assert_refused(data, "csv", 413, "too_many_columns", "3 columns", "the limit is 2", max_columns=2)
    assert read_table(data, "csv", max_rows=12, max_columns=3).shape == (12, 3)
    assert_refused(b'[{"a": 1, "b": 2}]', "json", 413, "too_many_columns", "the limit is 1", max_columns=1)


# --- speed (informational: timings go to bench/) ------------------------------------------------------------------


def test_a_large_csv_reads_about_as_fast_as_polars_alone(capsys):
    n = 200_000
    frame = pl.DataFrame({
        "id": range(n),
        "region": ["North", "South, East", "West", "Zürich"] * (n // 4),
        "amount": [1.5, 2.25, 3.0, 4.75] * (n // 4),
        "day": pl.date_range(dt.date(2000, 1, 1), dt.date(2000, 1, 1) + dt.timedelta(days=n - 1), eager=True),
    })
    data = frame.write_csv().encode()
    started = time.perf_counter()
    plain = pl.read_csv(data)
    polars_alone = time.perf_counter() - started
    started = time.perf_counter()
    ours = read_table(data, "csv")
    with capsys.disabled():
        print(f"\n200k-row CSV: pl.read_csv {polars_alone * 1000:.0f} ms, read_table "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
    assert ours.height == plain.height and ours.schema["day"] == pl.Date
