"""The PDF of a conversation export (convoinsight.exports.pdf): what a reader finds in the file.

Pure: no services. The PDFs are read back with pypdf (text, images, metadata) and poppler (pdftotext for
right-to-left text and word positions, pdftoppm for the pixels of a chart page).
"""

from __future__ import annotations

import builtins
import io
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw
from pypdf import PdfReader

from convoinsight.exports import fonts
from convoinsight.exports.pdf import (
    ExportDataset,
    ExportLimits,
    ExportTable,
    ExportTurn,
    RenderedPdf,
    SessionExport,
    render,
)

A4 = (595.28, 841.89)  # points
MARGIN_PT = 18 * 72 / 25.4
BAR = (31, 119, 180)

ANSWER = """## Revenue by region

Revenue grew **18.4%** to *€1,204,880* in 2024; the best month was `2024-07`.

- North led
  - online: 41%
- South grew faster
1. Check July
2. Compare with 2023

| Region | Revenue |
|--------|--------:|
| North  | 738,220 |

> Figures exclude returns.

```
SELECT region FROM sales;
```

---
See [the dashboard](https://example.com/dash). ~~Retired figure~~

#### Fourth level
###### Sixth level
"""


def chart_png(width: int = 1200, height: int = 900) -> bytes:
    """A bar chart-like PNG: white with blue bars (what a chart looks like to pdftoppm)."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for i in range(6):
        left = 80 + i * 180
        draw.rectangle((left, height - 100 - 90 * (i + 1), left + 120, height - 100), fill=BAR)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def turn(**fields) -> ExportTurn:
    values = {"question": "What was revenue by region?", "answer": "Revenue was **42,000** in total.",
              "created_at": "2025-03-14T09:05:00Z"}
    return ExportTurn(**{**values, **fields})


def session(turns: list[ExportTurn], **fields) -> SessionExport:
    values = {"title": "Quarterly review", "domain": "sales", "session_id": "sess_1",
              "created_at": "2025-03-14T08:59:12Z", "updated_at": "2025-03-15T16:20:00+01:00", "turns": turns,
              "total_turns": len(turns), "turn_numbers": list(range(1, len(turns) + 1)),
              "datasets": [ExportDataset("sales_2024", 3, "upload")], "exported_at": "2025-03-16T10:00:00Z"}
    return SessionExport(**{**values, **fields})


def pages(result: RenderedPdf) -> list[str]:
    """The text of each page (pypdf)."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(result.data)).pages]


def text(result: RenderedPdf) -> str:
    return "\n".join(pages(result))


def flat(page: str) -> str:
    """``page`` with its line breaks as spaces, for sentences that may wrap."""
    return " ".join(page.split())


def poppler_text(result: RenderedPdf, tmp_path: Path) -> str:
    """pdftotext's text: it puts right-to-left text back in reading order."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(result.data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def words_outside_text_area(result: RenderedPdf, tmp_path: Path) -> list[str]:
    """Every word pdftotext places outside the page's margins (with half a point of slack)."""
    path = tmp_path / "box.pdf"
    path.write_bytes(result.data)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    outside = []
    for x0, y0, x1, y1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html):
        left, top, right, bottom = map(float, (x0, y0, x1, y1))
        if left < MARGIN_PT - 0.5 or right > A4[0] - MARGIN_PT + 0.5 or top < MARGIN_PT - 0.5 or bottom > A4[1]:
            outside.append(word[:40])
    return outside


def page_with(result: RenderedPdf, needle: str) -> int:
    """The 0-based index of the first page whose text holds ``needle``."""
    return next(i for i, page in enumerate(pages(result)) if needle in page)


# The title page, the turns, the footer.


def test_title_page_names_the_session_its_dates_turns_and_datasets():
    result = render(session([turn(), turn(question="And by month?")],
                            datasets=[ExportDataset("sales_2024", 3, "upload"),
                                      ExportDataset("crm", "7", "postgres:crm")],
                            exported_by="ana@example.com"))
    first = pages(result)[0]
    for expected in ("Quarterly review", "Domain: sales", "14 March 2025, 08:59 UTC",
                     "15 March 2025, 15:20 UTC", "16 March 2025, 10:00 UTC", "ana@example.com", "All 2 turns",
                     "sales_2024", "version 3", "upload", "crm", "version 7", "postgres:crm"):
        assert expected in first, expected
    assert "partial" not in first
    assert result.partial is None and result.turns_rendered == 2


def test_pdf_is_a4_with_metadata():
    result = render(session([turn()], title="Churn deep dive"))
    reader = PdfReader(io.BytesIO(result.data))
    assert [round(float(v), 2) for v in reader.pages[0].mediabox[2:]] == list(A4)
    assert reader.metadata.title == "Churn deep dive"
    assert reader.metadata.creator == "ConvoInsight"
    assert result.pages == len(reader.pages)


def test_a_chosen_subset_of_turns_says_which_are_in():
    result = render(session([turn(), turn(), turn()], total_turns=40, turn_numbers=[1, 2, 3]))
    first = pages(result)[0]
    assert "Turns 1–3 of 40" in first
    assert "This export is partial" in first and "3 of the session's 40 turns were chosen" in flat(first)
    assert "Turn 3" in text(result) and result.partial is None


def test_scattered_turn_numbers_are_shown_as_ranges():
    result = render(session([turn()] * 4, total_turns=9, turn_numbers=[2, 5, 6, 7]))
    assert "Turns 2, 5–7 of 9" in pages(result)[0]
    assert "Turn 5" in text(result) and "Turn 7" in text(result)


def test_each_turn_starts_a_new_page_with_its_number_and_question():
    result = render(session([turn(question="First question?", answer="Revenue was 1,111."),
                             turn(question="Second question?", answer="Revenue was 2,222.")]))
    first, second = page_with(result, "First question?"), page_with(result, "Second question?")
    assert 0 < first < second
    assert "Turn 1" in pages(result)[first] and "Turn 2" in pages(result)[second]
    assert "1,111" in pages(result)[first] and "2,222" in pages(result)[second]


def test_every_page_has_the_title_and_page_n_of_total_in_its_footer():
    result = render(session([turn(answer="Long answer. " * 400), turn()]))
    total = result.pages
    assert total >= 3
    for number, page in enumerate(pages(result), start=1):
        assert f"page {number} of {total}" in page
        assert "Quarterly review" in page


def test_an_empty_session_has_a_title_page_only():
    result = render(session([], total_turns=0, turn_numbers=[]))
    assert result.pages == 1 and result.turns_rendered == 0 and result.partial is None
    assert "This session has no turns yet" in pages(result)[0]


# The answer's markdown.


def test_markdown_of_the_answer_is_laid_out_as_text():
    result = render(session([turn(answer=ANSWER)]))
    body = pages(result)[1]
    for expected in ("Revenue by region", "18.4%", "€1,204,880", "2024-07", "North led", "online: 41%",
                     "Check July", "Compare with 2023", "Region", "738,220", "Figures exclude returns",
                     "SELECT region FROM sales;", "the dashboard (https://example.com/dash)", "Retired figure",
                     "Fourth level", "Sixth level"):
        assert expected in body, expected
    for marker in ("##", "**", "~~", "|---", "```", "> Figures"):
        assert marker not in body, marker


def test_code_and_sql_are_in_the_mono_font(tmp_path):
    result = render(session([turn(answer="Use `SUM(x)` here.", sql="SELECT 1")], include_sql=True))
    path = tmp_path / "fonts.pdf"
    path.write_bytes(result.data)
    listed = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "DejaVuSansMono" in listed


def test_raw_html_is_printed_as_text():
    result = render(session([turn(answer="Before <script>alert(1)</script> after <b>bold?</b>")]))
    assert "<script>alert(1)</script>" in text(result)
    assert "<b>bold?</b>" in text(result)


def test_markdown_images_are_never_loaded_only_their_alt_text_shown(monkeypatch, network_attempts):
    opened: list[str] = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    answer = "Look: ![secret file](file:///etc/passwd) and ![metadata](http://169.254.169.254/latest/)"
    result = render(session([turn(answer=answer)]))
    reader = PdfReader(io.BytesIO(result.data))
    assert all(len(page.images) == 0 for page in reader.pages)
    body = reader.pages[1].extract_text()
    assert "secret file" in body and "[image: metadata]" in body
    assert network_attempts == []
    assert all(Path(name).parent == fonts.FONT_DIR for name in opened), opened


def test_markdown_special_characters_in_plain_text_are_kept():
    result = render(session([turn(question="Is a*b_c **x [y](z) {nb} `q` ~~s~~ -- __u__ \\* literal?",
                                  answer=r"Escapes: \*not bold\* and 5 * 3 = 15, 2 ** 8, a__b, [x]")]))
    body = text(result)
    assert "a*b_c **x [y](z) {nb} `q` ~~s~~ -- __u__ \\* literal?" in body
    assert "Escapes: *not bold* and 5 * 3 = 15, 2 ** 8, a__b, [x]" in body


def test_fifty_nested_lists_keep_all_their_text():
    answer = "\n".join("  " * depth + f"- level {depth}" for depth in range(50))
    result = render(session([turn(answer=answer)]))
    body = text(result)
    assert "level 0" in body and "level 49" in body


def test_deep_block_quotes_and_emphasis_do_not_break_the_layout(tmp_path):
    answer = "> " * 60 + "deep quote\n\n" + "*" * 500 + "stars" + "*" * 500 + "\n\n" + "[" * 300 + "x"
    result = render(session([turn(answer=answer)]))
    assert "deep quote" in text(result) and "stars" in text(result)
    assert words_outside_text_area(result, tmp_path) == []


def test_a_markdown_table_of_forty_columns_stays_on_the_page(tmp_path):
    header = "| " + " | ".join(f"column_{i}" for i in range(40)) + " |"
    rule = "|" + "---|" * 40
    row = "| " + " | ".join(str(i * 1000) for i in range(40)) + " |"
    result = render(session([turn(answer=f"{header}\n{rule}\n{row}\n")]))
    assert words_outside_text_area(result, tmp_path) == []
    assert "32 more columns not shown: column_8, column_9" in text(result)


# Text that must stay visible and on the page.


def test_a_five_thousand_character_word_wraps_inside_the_page(tmp_path):
    word = "x" * 5000
    result = render(session([turn(question="q" * 2000, answer=f"Start {word} end.", sql="SELECT " + "a" * 3000,
                                  insights=["i" * 900])], include_sql=True))
    assert words_outside_text_area(result, tmp_path) == []
    assert text(result).replace("\n", "").count("x" * 200) >= 20


def test_unicode_comes_back_from_the_pdf(tmp_path):
    result = render(session([turn(question="Résumé in € and 数据?", answer="Ventes: 1 200 €. 数据 **粗体数据** "
                                  "*斜体*.\n\nשלום *עולם* יפה\n\nالعربية لغة جميلة\n\nעברית")]))
    body = pages(result)[1]
    assert "Résumé in € and 数据?" in body and "粗体数据" in body and "斜体" in body
    assert "עברית" in body  # pypdf: one word comes back as is (it reverses the order of words in a line)
    reading = poppler_text(result, tmp_path)
    assert "שלום עולם יפה" in reading  # right to left, in reading order, with the italic word in its place
    assert "العربية لغة جميلة" in reading


def test_characters_no_font_has_come_out_as_a_visible_replacement():
    odd = "smile 🙂 max \U0010ffff unassigned \U0003ffff surrogate \ud800 end"
    result = render(session([turn(question=odd, answer=odd)]))
    body = pages(result)[1]
    assert "smile \ufffd max \ufffd unassigned \ufffd surrogate \ufffd end" in body
    assert body.count("\ufffd") >= 8


def test_clean_replaces_controls_normalises_and_keeps_what_fonts_have():
    assert fonts.clean("a\x00b\tc\r\nd\x1be\u0301") == "a\ufffdb    c\nd\ufffdé"
    assert fonts.clean("€ 数据 עברית") == "€ 数据 עברית"
    assert fonts.clean(None) == "" and fonts.clean(12) == "12"


def test_the_cjk_code_points_are_the_fonts_own():
    from fontTools.ttLib import TTFont

    assert fonts.cjk_points() == frozenset(TTFont(fonts.FONT_DIR / "DroidSansFallbackFull.ttf").getBestCmap())


def test_fonts_parsed_once_serve_many_documents():
    first = render(session([turn(answer="数据 one")]))
    second = render(session([turn(answer="数据 two")]))
    assert "数据 one" in pages(first)[1] and "数据 two" in pages(second)[1]


def test_only_fonts_in_use_are_embedded(tmp_path):
    def embedded(result: RenderedPdf) -> str:
        path = tmp_path / "f.pdf"
        path.write_bytes(result.data)
        return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout

    assert "DroidSansFallback" not in embedded(render(session([turn(answer="Latin only.")])))
    assert "DroidSansFallback" in embedded(render(session([turn(answer="数据")])))


# Charts.


def test_a_chart_page_shows_the_picture(tmp_path):
    result = render(session([turn(chart_png=chart_png(), chart_title="Revenue by month"), turn()]))
    reader = PdfReader(io.BytesIO(result.data))
    chart_page = page_with(result, "Revenue by month")
    assert len(reader.pages[chart_page].images) == 1
    assert all(len(page.images) == 0 for i, page in enumerate(reader.pages) if i != chart_page)
    path = tmp_path / "chart.pdf"
    path.write_bytes(result.data)
    number = chart_page + 1
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", str(number), "-l", str(number), str(path),
                    str(tmp_path / "page")], check=True)
    red, _, blue = Image.open(next(tmp_path.glob("page*.png"))).convert("RGB").split()
    bars = ImageChops.multiply(red.point(lambda v: 255 if v < 80 else 0), blue.point(lambda v: 255 if v > 150 else 0))
    assert bars.histogram()[255] > 0.03 * bars.width * bars.height  # the bars: a picture-sized coloured region


def test_a_chart_note_is_printed_when_there_is_no_picture():
    result = render(session([turn(chart_title="Trend", chart_note="The chart could not be drawn.")]))
    assert "The chart could not be drawn. (Trend)" in text(result)
    assert all(len(page.images) == 0 for page in PdfReader(io.BytesIO(result.data)).pages)


@pytest.mark.parametrize("garbage", [b"not a png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, chart_png()[:2000]])
def test_a_broken_picture_gives_a_note_not_a_crash(garbage):
    result = render(session([turn(chart_png=garbage, chart_title="Broken")]))
    assert "The chart could not be printed" in text(result)


def test_a_tall_chart_is_capped_to_fit_on_a_page(tmp_path):
    result = render(session([turn(chart_png=chart_png(400, 4000), chart_title="Tall")]))
    assert len(PdfReader(io.BytesIO(result.data)).pages[page_with(result, "Tall")].images) == 1
    assert words_outside_text_area(result, tmp_path) == []


def test_a_transparent_png_is_printed_on_white():
    image = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((100, 100, 300, 300), fill=(*BAR, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    result = render(session([turn(chart_png=buffer.getvalue())]))
    picture = PdfReader(io.BytesIO(result.data)).pages[1].images[0].image.convert("RGB")
    assert picture.getpixel((10, 10)) == (255, 255, 255) and picture.getpixel((200, 200)) == BAR


# The result table.


def table(columns: list[str], rows: list[list[object]], row_count: int | None = None,
          truncated: bool = False) -> ExportTable:
    return ExportTable(columns=columns, rows=rows, row_count=len(rows) if row_count is None else row_count,
                       truncated=truncated)


def test_the_result_table_prints_its_first_rows_with_a_caption():
    rows = [[f"2024-{m:02d}", m * 1000] for m in range(1, 31)]
    result = render(session([turn(table=table(["month", "revenue"], rows, row_count=1234))]))
    body = text(result)
    assert "month" in body and "revenue" in body and "2024-01" in body and "20,000" in body
    assert "2024-20" in body and "2024-21" not in body
    assert "20 of 1,234 rows" in body


def test_a_truncated_result_says_at_least():
    result = render(session([turn(table=table(["a"], [[1], [2]], row_count=2, truncated=True))]))
    assert "2 of at least 2 rows" in text(result)


def test_values_are_formatted_for_reading():
    row = [1234567, 1234.5678, 0.012345, None, True, {"k": [1, 2]}, float("nan"), float("inf"), 2024, 7.0]
    columns = ["count", "amount", "rate", "missing", "flag", "detail", "nan", "inf", "year", "whole"]
    result = render(session([turn(table=table(columns, [row]))]),
                    ExportLimits(table_columns=10))
    body = text(result)
    for expected in ("1,234,567", "1,234.57", "0.01235", "—", "true", '{"k": [1, 2]}', "NaN", "∞", "2024", "7"):
        assert expected in body, expected
    assert "2,024" not in body


def test_columns_past_the_limit_are_named_in_a_note():
    columns = [f"c{i}" for i in range(12)]
    result = render(session([turn(table=table(columns, [list(range(12))]))]))
    body = text(result)
    assert "c7" in body
    assert "4 more columns not shown: c8, c9, c10, c11" in body


def test_long_cells_are_cut_and_long_headers_wrap_inside_the_page(tmp_path):
    header = "a_very_long_column_name_that_goes_on_and_on_without_any_space_at_all"
    result = render(session([turn(table=table([header, "b"], [["y" * 500, "short"]]))]),
                    ExportLimits(cell_chars=60))
    body = text(result).replace("\n", "")
    assert "y" * 59 + "…" in body and "y" * 61 not in body
    assert words_outside_text_area(result, tmp_path) == []


@pytest.mark.parametrize(("columns", "rows", "expected"), [
    ([], [[1, 2]], "The result has no columns."),
    (["a", "b"], [], "0 of 0 rows"),
    (["a", "b"], [[1], [1, 2, 3, 4], "scalar", None], "4 of 4 rows"),
])
def test_odd_tables_are_printed_without_error(columns, rows, expected):
    assert expected in text(render(session([turn(table=table(columns, rows))])))


def test_tables_are_left_out_when_not_asked_for():
    result = render(session([turn(table=table(["region"], [["North"]]))], include_tables=False))
    assert "North" not in text(result) and "rows" not in text(result)


# Insights, checks, SQL.


def test_insights_are_a_bullet_list_under_a_heading():
    result = render(session([turn(insights=["Revenue peaked in July.", "South grows faster."])]))
    body = pages(result)[1]
    assert "Insights" in body and "• Revenue peaked in July." in body and "• South grows faster." in body


@pytest.mark.parametrize(("verified", "expected", "absent"), [
    (True, "Numbers checked against the result", "not verified"),
    (False, "Numbers not verified against the result", "checked against"),
    (None, None, "against the result"),
])
def test_the_verification_line(verified, expected, absent):
    body = text(render(session([turn(verified=verified)])))
    assert expected is None or expected in body
    assert absent not in body


def test_sql_is_printed_only_when_asked_for():
    sql = "SELECT region, SUM(revenue) FROM sales GROUP BY region"
    assert "SUM(revenue)" not in text(render(session([turn(sql=sql)])))
    body = text(render(session([turn(sql=sql, sql_status="refused")], include_sql=True)))
    assert "SELECT region, SUM(revenue) FROM sales GROUP BY region" in body
    assert "The query was refused by the safety checks." in body


def test_a_long_sql_identifier_wraps_inside_the_page(tmp_path):
    sql = "SELECT " + "identifier" * 300 + " FROM t"
    result = render(session([turn(sql=sql)], include_sql=True))
    assert words_outside_text_area(result, tmp_path) == []
    assert text(result).replace("\n", "").count("identifier") == 300


# Limits.


def test_turns_past_max_turns_are_left_out_and_the_pdf_says_so():
    result = render(session([turn(question=f"Question {i}?") for i in range(1, 6)]), ExportLimits(max_turns=2))
    assert result.turns_rendered == 2 and result.partial == "turn_limit"
    body = text(result)
    assert "Question 2?" in body and "Question 3?" not in body
    assert "An export holds at most 2 turns: 3 chosen turns left out" in flat(pages(result)[0])
    assert "This export stops at turn 2 of 5" in pages(result)[-1]


def test_the_page_limit_is_never_passed_and_the_cut_is_explained():
    long_turns = [turn(question=f"Question {i}?", answer="A long paragraph of analysis. " * 300) for i in range(1, 7)]
    result = render(session(long_turns), ExportLimits(max_pages=3))
    assert len(PdfReader(io.BytesIO(result.data)).pages) == result.pages <= 3
    assert result.partial == "page_limit"
    assert "An export has at most 3 pages: turn 1 is cut short" in flat(pages(result)[0])
    assert "This export stops at turn 1 of 6" in pages(result)[-1]
    assert "Question 1?" in text(result) and "Question 2?" not in text(result)


@pytest.mark.parametrize("max_pages", [1, 2, 4, 7])
def test_any_page_limit_holds(max_pages):
    turns = [turn(answer=ANSWER * 3, chart_png=chart_png(), table=table(["a"], [[i] for i in range(20)]))
             for _ in range(5)]
    result = render(session(turns), ExportLimits(max_pages=max_pages))
    assert result.pages <= max_pages and result.partial == "page_limit"
    assert "This export is partial" in pages(result)[0]


def test_no_new_turn_starts_after_the_time_limit():
    ticks = iter([0.0, 1.0, 2.0, 50.0, 61.0, 62.0, 63.0])
    result = render(session([turn(question=f"Question {i}?") for i in range(1, 6)]), clock=lambda: next(ticks))
    assert result.partial == "time_limit" and result.turns_rendered == 3
    assert "Question 3?" in text(result) and "Question 4?" not in text(result)
    assert "ran out of time (60 seconds): the turns from turn 4 on are left out" in flat(pages(result)[0])
    assert "This export stops at turn 3 of 5" in pages(result)[-1]


def test_a_long_answer_and_sql_are_cut_with_a_note():
    result = render(session([turn(answer="word " * 1000, sql="SELECT 1 " * 100)], include_sql=True),
                    ExportLimits(answer_chars=100, sql_chars=50))
    body = text(result)
    assert "(cut: the answer is 5,000 characters long; the first 100 are shown)" in flat(body)
    assert "(cut: the SQL is 900 characters long; the first 50 are shown)" in flat(body)


# Odd data never breaks the render.


def test_odd_data_renders():
    odd = ExportTurn(question="", answer="", created_at="not a date", sql="", sql_status="weird",
                     table=table(["x"], [[[1, [2, {"3": None}]]]]), chart_png=b"", insights=["", "  "],
                     verified=None)
    nones = ExportTurn(question=None, answer=None, created_at=None, insights=None)  # type: ignore[arg-type]
    export = session([odd, nones], turn_numbers=[7], total_turns=1, title="", domain="",
                     datasets=[ExportDataset("", None, None)], include_sql=True)
    result = render(export, ExportLimits(max_pages=0, max_turns=-1, table_rows=-5, cell_chars=0))
    assert result.pages == 1 and result.partial == "turn_limit"
    result = render(export)
    body = text(result)
    assert "(no question)" in body and "(no answer)" in body and "not a date" in body
    assert "Status: weird" in body and "Untitled session" in body and "Turn 7" in body


def test_a_megabyte_answer_is_cut_and_rendered():
    result = render(session([turn(answer="# Title\n\n" + "| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 100_000)]))
    assert "(cut: the answer is 1,0" in text(result)
    assert result.partial is None


def test_five_hundred_turns_respect_the_limits():
    result = render(session([turn(question=f"Question {i}?") for i in range(500)]), ExportLimits(max_turns=30))
    assert result.turns_rendered == 30 and result.partial == "turn_limit" and result.pages == 31


def test_the_title_page_holds_on_one_page_whatever_its_content(tmp_path):
    huge = "数据 " * 2000
    export = session([turn(), turn()], title=huge, domain=huge, session_id=huge, exported_by=huge, total_turns=90,
                     turn_numbers=[5, 80], datasets=[ExportDataset(huge, huge, huge) for _ in range(500)])
    result = render(export, ExportLimits(max_turns=1))
    assert result.pages == 2 and result.partial == "turn_limit"
    assert "This export is partial" in pages(result)[0]
    assert words_outside_text_area(result, tmp_path) == []


def test_a_layout_refusal_by_fpdf_loses_the_rest_of_that_turn_only(monkeypatch):
    from fpdf.errors import FPDFException

    from convoinsight.exports import pdf as module

    def refuse(*args, **kwargs):
        raise FPDFException("Not enough horizontal space to render a single character")

    monkeypatch.setattr(module, "_insights", refuse)
    result = render(session([turn(question="First?", insights=["x"]), turn(question="Second?")]))
    assert "The rest of this turn could not be laid out." in text(result)
    assert "Second?" in text(result) and result.partial is None


def test_more_columns_than_fit_across_the_page_are_named_instead(tmp_path):
    columns = [f"c{i}" for i in range(40)]
    result = render(session([turn(table=table(columns, [list(range(40))]))]), ExportLimits(table_columns=40))
    assert words_outside_text_area(result, tmp_path) == []
    assert "21 more columns not shown: c19, c20" in text(result)
