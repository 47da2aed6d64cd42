"""A conversation (session) as a PDF a business reader can forward: pure layout, no services, no storage.

The document is A4 portrait: a title page (the session, its dates, the turns and datasets in it, and a notice
when the export is partial), then each turn from a new page: its question, the answer's markdown, whether
its numbers were checked, its insights, its chart (a PNG drawn beforehand), the first rows of its result
table and, if asked for, its SQL. Every page has a footer with the session title and "page n of N".

Limits bound the work where it happens (``ExportLimits``): turns past ``max_turns`` are left out, no new
turn starts once ``time_limit_seconds`` have passed (measured with the injected clock), and no page past
``max_pages`` is ever made: the page break that would make one raises ``_PageLimit`` instead, the turn being
drawn stops there, and the last page keeps room at its foot for the notice that says so. Whether the export
is partial is known at the end only, so the title page is drawn last, into the page reserved for it
(fpdf2's ``insert_toc_placeholder``).

Everything printed comes from data that may be odd or hostile (model output, user titles): every string is
cleaned (``fonts.clean``) and cut to a bound before it is laid out, and the title page is bounded so that it
always fits on its one page.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from fpdf.errors import FPDFException

from convoinsight.exports import markdown
from convoinsight.exports.fonts import clean
from convoinsight.exports.markdown import ACCENT, MUTED, Canvas, Run, cut

log = logging.getLogger(__name__)
MARGIN = 18.0  # mm, left, right and top
BOTTOM = 20.0  # mm below the text: the footer sits in it
RESERVE = 20.0  # mm kept free at the foot of the last page allowed, for the notice that the export stops there
PAGE_TOTAL = "\x1a#\x1a"  # fpdf2's alias for the page count; control characters never survive clean()
MAX_CHART_HEIGHT = 115.0  # mm: a chart and its caption leave room for text on their page
MIN_CHART_SCALE = 0.6  # a chart shrinks down to this to stay on the page it follows, else goes to the next
MAX_CHART_PIXELS = 40_000_000  # a larger picture is refused before it is decoded
TITLE_CHARS = 140
LINE_CHARS = 120  # a line of the title page (domain, dataset, user)
QUESTION_CHARS = 4_000
INSIGHT_CHARS = 1_000
MAX_INSIGHTS = 30
MAX_CELL_CHARS = 300  # a row of such cells still fits on a page (fpdf2 refuses a row taller than a page)
MAX_TITLE_DATASETS = 10
NOTICE_FILL = (255, 243, 224)
CHECKED = (25, 120, 70)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_PLAIN_INTEGER_WORDS = {"id", "year", "yr", "code", "zip", "zipcode", "postcode", "phone", "no", "number", "num"}
_STATUS = {
    "refused": "The query was refused by the safety checks.",
    "failed": "The query failed.",
    "unanswerable": "The question could not be answered from the data.",
}


@dataclass(frozen=True)
class ExportLimits:
    """Bounds on the work and the document; each is enforced where the work happens (see the module)."""

    max_pages: int = 200  # hard: the PDF never has more pages than this
    max_turns: int = 100  # turns beyond are left out
    table_rows: int = 20  # first N rows of each result table are printed
    table_columns: int = 8  # at most N columns printed; the rest named in a note
    cell_chars: int = 60  # a cell's text is cut (with "…") past this
    answer_chars: int = 20_000  # an answer's markdown is cut past this (with a note)
    sql_chars: int = 8_000
    time_limit_seconds: float = 60.0  # no new turn starts after this much time; the PDF says it is partial


@dataclass(frozen=True)
class ExportTable:
    """The result table stored with an answer (its first rows only when ``truncated``)."""

    columns: list[str]
    rows: list[list[object]]  # JSON values: str, int, float, bool, None (as stored with the answer)
    row_count: int  # rows the query returned in total
    truncated: bool  # the stored rows are fewer than the query's (row_count may be a lower bound)


@dataclass(frozen=True)
class ExportTurn:
    """One question and its answer, with what came with the answer."""

    question: str
    answer: str  # markdown (LLM output: untrusted)
    created_at: str  # ISO 8601
    sql: str | None = None
    sql_status: str | None = None  # ok | refused | failed | unanswerable | None
    table: ExportTable | None = None
    chart_title: str | None = None
    chart_png: bytes | None = None  # already rendered PNG (print resolution), or None
    chart_note: str | None = None  # e.g. "the chart could not be drawn" when a render failed
    insights: list[str] = field(default_factory=list)
    verified: bool | None = None  # numbers in the prose were checked against the table


@dataclass(frozen=True)
class ExportDataset:
    """A dataset the exported turns used, at the version they used."""

    name: str
    version: int | str | None
    source: str | None = None  # e.g. "upload" or "postgres:<connection>"


@dataclass(frozen=True)
class SessionExport:
    """Everything the PDF prints about a session; gathered by the caller (sessions/export.py)."""

    title: str
    domain: str
    session_id: str
    created_at: str
    updated_at: str
    turns: list[ExportTurn]  # the turns chosen for export, in order
    total_turns: int  # turns the session has (>= len(turns)); when more, the PDF says which are in
    turn_numbers: list[int]  # 1-based number of each exported turn in the session (same length as turns)
    datasets: list[ExportDataset]
    include_sql: bool = False
    include_tables: bool = True
    exported_at: str = ""  # ISO 8601
    exported_by: str | None = None


@dataclass(frozen=True)
class RenderedPdf:
    """The PDF and what went into it."""

    data: bytes
    pages: int
    turns_rendered: int  # turns printed, the last one possibly cut short (partial == "page_limit")
    partial: str | None  # None, or why the PDF is partial: "turn_limit" | "page_limit" | "time_limit"


class _PageLimit(Exception):
    """The next page would be past ``ExportLimits.max_pages``: the drawing under way stops."""


@dataclass
class _Outcome:
    """What the render got through, for the title page (drawn last) and the result."""

    turns_rendered: int = 0
    last_number: int = 0  # session number of the last turn printed
    partial: str | None = None
    cut_short: bool = False  # the last turn printed stopped at the page limit
    stopped_before: int = 0  # session number of the first turn left out by the page or time limit


def render(export: SessionExport, limits: ExportLimits = ExportLimits(), *,
           clock: Callable[[], float] = time.monotonic) -> RenderedPdf:
    """The PDF of ``export`` within ``limits``; never raises on odd data (it is printed as best it can)."""
    started = clock()
    limits, export = _sane(limits), _normalized(export)
    numbers = _numbers(export)
    chosen = export.turns[: limits.max_turns]
    outcome = _Outcome()
    pdf = _Report(export, limits)
    pdf.add_page()
    if not chosen or limits.max_pages < 2:
        outcome.partial = _untried(export, limits)
        _title_page(pdf, export, limits, numbers, outcome)
    else:
        pdf.insert_toc_placeholder(lambda doc, _outline: _title_page(doc, export, limits, numbers, outcome))
        _turns(pdf, chosen, numbers, export, limits, outcome, lambda: clock() - started)
        if outcome.partial is None and len(export.turns) > limits.max_turns:
            outcome.partial = "turn_limit"
        if outcome.partial:
            _end_notice(pdf, _stop_sentence(export, limits, outcome))
    data = bytes(pdf.output())
    return RenderedPdf(data=data, pages=pdf.pages_count, turns_rendered=outcome.turns_rendered,
                       partial=outcome.partial)


def _sane(limits: ExportLimits) -> ExportLimits:
    """Limits a render can honour: at least one page, no negative counts, cells short enough to fit a page."""
    return replace(limits, max_pages=max(int(limits.max_pages), 1), max_turns=max(int(limits.max_turns), 0),
                   table_rows=max(int(limits.table_rows), 0), table_columns=max(int(limits.table_columns), 1),
                   cell_chars=min(max(int(limits.cell_chars), 2), MAX_CELL_CHARS),
                   answer_chars=max(int(limits.answer_chars), 1), sql_chars=max(int(limits.sql_chars), 1))


def _normalized(export: SessionExport) -> SessionExport:
    """``export`` with real lists where lists are expected (a None or a stray item is no reason to fail)."""
    turns = [turn for turn in _listed(export.turns) if isinstance(turn, ExportTurn)]
    datasets = [item for item in _listed(export.datasets) if isinstance(item, ExportDataset)]
    return replace(export, turns=turns, datasets=datasets, turn_numbers=_listed(export.turn_numbers))


def _numbers(export: SessionExport) -> list[int]:
    """The session number of each exported turn; its position when the caller's list is short or odd."""
    given = export.turn_numbers
    numbers = []
    for i in range(len(export.turns)):
        value = given[i] if i < len(given) else None
        numbers.append(value if isinstance(value, int) and not isinstance(value, bool) else i + 1)
    return numbers


def _untried(export: SessionExport, limits: ExportLimits) -> str | None:
    """Why turns are missing when none could be printed at all (no room for a page or no turn allowed)."""
    if not export.turns:
        return None
    return "turn_limit" if limits.max_turns == 0 else "page_limit"


class _Report(Canvas):
    """The export's pages: margins, footer, metadata, and the page limit on every page break."""

    def __init__(self, export: SessionExport, limits: ExportLimits) -> None:
        super().__init__()
        self.max_pages = limits.max_pages
        self.title_text = cut(clean(export.title).replace("\n", " ").strip(), TITLE_CHARS) or "Untitled session"
        self._footer_title: str | None = None
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, BOTTOM)
        self.alias_nb_pages(PAGE_TOTAL)
        self.set_title(self.title_text)
        self.set_subject(cut(f"Conversation export · {clean(export.domain)}", LINE_CHARS))
        self.set_creator("ConvoInsight")
        self.set_lang("en")
        exported = _moment(export.exported_at)
        if exported is not None:
            self.set_creation_date(exported)

    @property
    def accept_page_break(self) -> bool:
        """A break is taken unless it would make page ``max_pages + 1``; then ``_PageLimit`` stops the drawing.
        The title page is drawn at output time and bounded to its page: it never breaks."""
        if self.in_toc_rendering:
            return False
        if self.page >= self.max_pages:
            raise _PageLimit
        return True

    def header(self) -> None:
        """The last page allowed keeps ``RESERVE`` free at its foot for the notice that the export stops."""
        self.set_auto_page_break(True, BOTTOM + RESERVE if self.page == self.max_pages else BOTTOM)

    def footer(self) -> None:
        """Session title on the left, "page n of N" on the right, small and grey, under a hairline."""
        super().footer()
        self.set_draw_color(*markdown.RULE)
        self.set_line_width(0.2)
        top = self.h - BOTTOM + 8
        self.line(MARGIN, top, self.w - MARGIN, top)
        self.shape_for(self.title_text)
        self.use(7.5, color=MUTED)
        width = self.w - 2 * MARGIN
        self.set_xy(MARGIN, top + 1.5)
        self.cell(width * 0.75, 4, self._fitted_title(width * 0.72))
        self.use(7.5, color=MUTED)  # drawing a CJK title leaves the fallback font current
        self.set_xy(MARGIN + width * 0.75, top + 1.5)
        self.cell(width * 0.25, 4, f"page {self.page_no()} of {PAGE_TOTAL}", align="R")

    def _fitted_title(self, width: float) -> str:
        """The title cut (with "…") to fit ``width`` in the footer font, computed once."""
        if self._footer_title is None:
            text = self.title_text
            while len(text) > 1 and self.get_string_width(text) > width:
                text = cut(text, max(int(len(text) * width / self.get_string_width(text)), 2) - 1)
            self._footer_title = text
        return self._footer_title

    def new_page(self) -> None:
        """A page break asked for by the layout (a new turn), under the page limit like any other."""
        if self.accept_page_break:
            self.add_page(same=True)

    def recover(self) -> None:
        """Back to a plain state after a drawing was stopped at the page limit: base margin, no open rules."""
        self.drop_rules()
        self.set_left_margin(MARGIN)
        self.x = MARGIN
        self.use(markdown.BODY_SIZE)


class _Pictures:
    """Chart pictures decoded one turn ahead on a worker thread: Pillow decodes without holding the GIL, so the
    next turn's chart is ready when its turn comes (about 20 ms a chart saved, measured), and at most two
    decoded pictures (4.5 MB each at print size) are held at a time."""

    def __init__(self, turns: Sequence[ExportTurn], pool: ThreadPoolExecutor) -> None:
        self.turns, self.pool = turns, pool
        self.pending: dict[int, Future] = {}

    def prepare(self, index: int) -> None:
        """Start decoding the pictures of turns ``index`` and ``index + 1``."""
        for i in (index, index + 1):
            if i < len(self.turns) and i not in self.pending and self.turns[i].chart_png:
                self.pending[i] = self.pool.submit(_picture, self.turns[i].chart_png)

    def get(self, index: int):
        """The picture of turn ``index`` (see ``_picture``), or None."""
        future = self.pending.pop(index, None)
        return future.result() if future is not None else None


def _turns(pdf: _Report, chosen: Sequence[ExportTurn], numbers: Sequence[int], export: SessionExport,
           limits: ExportLimits, outcome: _Outcome, elapsed: Callable[[], float]) -> None:
    """Each turn from a new page until the turns, the time or the pages run out."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-pictures") as pool:
        pictures = _Pictures(chosen, pool)
        _each_turn(pdf, chosen, numbers, export, limits, outcome, elapsed, pictures)
        for future in pictures.pending.values():
            future.cancel()


def _each_turn(pdf: _Report, chosen: Sequence[ExportTurn], numbers: Sequence[int], export: SessionExport,
               limits: ExportLimits, outcome: _Outcome, elapsed: Callable[[], float], pictures: _Pictures) -> None:
    """The loop of ``_turns``: the time is checked before a turn starts, the page limit wherever it strikes."""
    for index, turn in enumerate(chosen):
        number = numbers[index]
        if elapsed() > limits.time_limit_seconds:
            outcome.partial, outcome.stopped_before = "time_limit", number
            return
        try:
            if index:
                pdf.new_page()
        except _PageLimit:
            outcome.partial, outcome.stopped_before = "page_limit", number
            return
        outcome.turns_rendered, outcome.last_number = outcome.turns_rendered + 1, number
        pictures.prepare(index)
        try:
            _laid_out(pdf, partial(_turn, pdf, turn, number, export, limits, partial(pictures.get, index)))
        except _PageLimit:
            pdf.recover()
            outcome.partial, outcome.cut_short = "page_limit", True
            return


def _laid_out(pdf: _Report, draw: Callable[[], None]) -> None:
    """Run ``draw``; should fpdf2 refuse to lay something out (its ``FPDFException``: no case is known, every
    text is bounded and every column wide enough), the rest of the turn is left out with a note, not the export."""
    try:
        draw()
    except FPDFException as exc:
        log.warning("export: a turn could not be laid out completely: %s", exc)
        pdf.recover()
        _note(pdf, "The rest of this turn could not be laid out.")


def _turn(pdf: _Report, turn: ExportTurn, number: int, export: SessionExport, limits: ExportLimits,
          picture: Callable[[], object]) -> None:
    """One turn: heading, question, answer, checks, insights, chart (its decoded ``picture``), table, SQL."""
    when = _when(turn.created_at)
    pdf.rich_text([Run(f"Turn {number}", "B", color=ACCENT), Run("" if when == "—" else f"   {when}", color=MUTED)],
                  size=9, leading=4.6)
    pdf.gap(1.0)
    question = _bounded(turn.question, QUESTION_CHARS)
    if question.strip():
        pdf.para(question.strip(), size=13, leading=6.4, style="B")
    else:
        pdf.para("(no question)", size=13, leading=6.4, style="I", color=MUTED)
    pdf.gap(2.0)
    pdf.rule()
    pdf.gap(4.0)
    _answer(pdf, turn.answer, limits)
    _verified(pdf, turn.verified)
    _insights(pdf, turn.insights)
    _chart(pdf, turn, picture)
    if export.include_tables and turn.table is not None:
        _result_table(pdf, turn.table, limits)
    if export.include_sql and (turn.sql or turn.sql_status not in (None, "ok")):
        _sql(pdf, turn.sql, turn.sql_status, limits)


def _answer(pdf: _Report, answer: object, limits: ExportLimits) -> None:
    """The answer's markdown, cut at ``answer_chars`` with a note saying how much was left out."""
    source = answer if isinstance(answer, str) else clean(answer)
    if not source.strip():
        pdf.para("(no answer)", style="I", color=MUTED)
        pdf.gap(2.0)
        return
    markdown.render(pdf, _bounded(source, limits.answer_chars), columns=limits.table_columns)
    if len(source) > limits.answer_chars:
        _note(pdf, f"… (cut: the answer is {len(source):,} characters long; the first "
                   f"{limits.answer_chars:,} are shown)")


def _verified(pdf: _Report, verified: bool | None) -> None:
    """One small line: were the answer's numbers checked against the result table (nothing when unknown)."""
    if verified is None:
        return
    if verified:
        pdf.para("✓ Numbers checked against the result", size=8.5, leading=4.4, color=CHECKED)
    else:
        pdf.para("Numbers not verified against the result", size=8.5, leading=4.4, style="I", color=MUTED)
    pdf.gap(2.4)


def _insights(pdf: _Report, insights: object) -> None:
    """The turn's insights as a bullet list under a small heading."""
    items = [text for text in (_bounded(item, INSIGHT_CHARS).strip() for item in _listed(insights)) if text]
    if not items:
        return
    _small_heading(pdf, "Insights")
    for text in items[:MAX_INSIGHTS]:
        _bullet(pdf, [Run(text)])
    if len(items) > MAX_INSIGHTS:
        _note(pdf, f"{len(items) - MAX_INSIGHTS} more insights not shown.")
    pdf.gap(2.0)


def _chart(pdf: _Report, turn: ExportTurn, decoded: Callable[[], object]) -> None:
    """The chart's picture across the text width (height capped, on the next page if it does not fit here)
    with its title as caption; a note instead when there is no picture or it is not a valid one."""
    title = cut(clean(turn.chart_title).strip(), LINE_CHARS)
    if not turn.chart_png:
        if turn.chart_note:
            _note(pdf, cut(clean(turn.chart_note), LINE_CHARS * 3) + (f" ({title})" if title else ""))
        return
    picture = decoded()
    if picture is None:
        _note(pdf, "The chart could not be printed: its picture is not a valid image." +
              (f" ({title})" if title else ""))
        return
    caption = 8.0 if title else 2.0
    pdf.gap(1.5)
    width, height = _fit(picture.width, picture.height, pdf.epw, MAX_CHART_HEIGHT)
    if height > pdf.room() - caption >= height * MIN_CHART_SCALE:
        width, height = _fit(picture.width, picture.height, pdf.epw, pdf.room() - caption)
    pdf.ensure_room(height + caption)
    pdf.image(picture, x=pdf.l_margin + (pdf.epw - width) / 2, y=pdf.y, w=width, h=height)
    pdf.y += height + 1.5
    if title:
        pdf.para(title, size=9, leading=4.6, style="I", color=MUTED, align="C")
    pdf.gap(4.0)


def _picture(data: bytes):
    """The chart as a Pillow image fpdf2 can embed as is (RGB or grey; a transparent one flattened on white, so
    no alpha mask is embedded), or None when the bytes are no PNG or JPEG picture of a sane size. Handing
    fpdf2 the decoded image spares it a second decode. Pillow raises many kinds of errors on broken files: all
    mean "not a valid image" here."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(bytes(data)))
        if image.format not in ("PNG", "JPEG") or not 0 < image.width * image.height <= MAX_CHART_PIXELS:
            return None
        image.load()
        if image.mode in ("RGB", "L"):
            return image
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() == (255, 255):
            return rgba.convert("RGB")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=alpha)
        return flat
    except Exception:  # Pillow: see the docstring
        return None


def _fit(width: int, height: int, max_width: float, max_height: float) -> tuple[float, float]:
    """The size in mm of a ``width`` x ``height`` picture scaled to ``max_width``, aspect kept, height capped."""
    w = max_width
    h = w * height / width
    if h > max_height:
        h = max_height
        w = h * width / height
    return w, h


def _result_table(pdf: _Report, table: ExportTable, limits: ExportLimits) -> None:
    """The first ``table_rows`` rows and ``table_columns`` columns of the result, a caption saying how many
    of how many rows, and a note naming the columns left out."""
    columns = [cut(clean(name).replace("\n", " ").strip(), markdown.HEADER_CHARS) for name in _listed(table.columns)]
    _small_heading(pdf, "Result")
    if not columns:
        _note(pdf, "The result has no columns.")
        return
    stored = [row if isinstance(row, list | tuple) else [row] for row in _listed(table.rows)]
    shown = stored[: limits.table_rows]
    kept = columns[: pdf.columns_that_fit(limits.table_columns)]
    values = [[row[i] if i < len(row) else None for i in range(len(kept))] for row in shown]
    cells = [[_cell(value, kept[i], limits.cell_chars) for i, value in enumerate(row)] for row in values]
    aligns = ["RIGHT" if _numeric_column(values, i) else "LEFT" for i in range(len(kept))]
    _note(pdf, _rows_caption(len(shown), table, len(stored)))
    pdf.gap(0.6)
    pdf.grid(kept, cells, aligns)
    hidden = columns[len(kept):]
    if hidden:
        names = ", ".join(hidden[:20]) + (", …" if len(hidden) > 20 else "")
        _note(pdf, f"{len(hidden)} more columns not shown: {names}")
    pdf.gap(3.0)


def _rows_caption(shown: int, table: ExportTable, stored: int) -> str:
    """"20 of 1,234 rows"; "of at least" when the stored rows are fewer than the query's."""
    total = max(_count(table.row_count), stored)
    noun = "row" if total == 1 and not table.truncated else "rows"
    return f"{shown:,} of {'at least ' if table.truncated else ''}{total:,} {noun}"


def _count(value: object) -> int:
    """A count from the caller's data, 0 unless it is a positive int."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _numeric_column(rows: Sequence[Sequence[object]], index: int) -> bool:
    """A column whose values (None aside) are all numbers: aligned right."""
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(_is_number(value) for value in values)


def _is_number(value: object) -> bool:
    """An int or float cell (a bool is no number here, though Python says it is an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object, column: str, limit: int) -> str:
    """A result value as printed: numbers readable (thousands separators, sensible precision), None as "—",
    JSON for objects and lists, one line, cut at ``limit`` characters."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if _plain_integers(column) else f"{value:,}"
    if isinstance(value, float):
        return _float(value, _plain_integers(column))
    if isinstance(value, dict | list | tuple):
        text = _json(value)
    else:
        text = value if isinstance(value, str) else str(value)
    return cut(clean(text[: limit * 2]).replace("\n", " "), limit)


def _plain_integers(column: str) -> bool:
    """Columns whose numbers are labels, not amounts (ids, years, codes): no thousands separators."""
    words = [word for word in re.split(r"[^a-z0-9]+", column.lower()) if word]
    return bool(words) and (words[-1] in _PLAIN_INTEGER_WORDS or words[0] == "year")


def _float(value: float, plain: bool) -> str:
    """1,234.57 / 0.01235 / 1.235e-07; whole numbers without decimals; NaN and infinities by name."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    size = abs(value)
    if value.is_integer() and size < 1e15:
        return str(int(value)) if plain else f"{int(value):,}"
    if size >= 1e15 or size < 1e-4:
        return f"{value:.3e}"
    return f"{value:,.2f}" if size >= 1 else f"{value:.4g}"


def _json(value: object) -> str:
    """An object or list cell as JSON (unicode kept), its repr if it is not JSON at all."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def _sql(pdf: _Report, sql: str | None, status: str | None, limits: ExportLimits) -> None:
    """The SQL in monospace in a light box (long tokens broken), its status when it did not run fine."""
    _small_heading(pdf, "SQL")
    if status not in (None, "ok"):
        text = _STATUS.get(str(status), f"Status: {cut(clean(status), LINE_CHARS)}")
        pdf.para(text, size=8.5, leading=4.4, style="I", color=MUTED)
        pdf.gap(1.0)
    source = sql if isinstance(sql, str) else clean(sql)
    if source.strip():
        pdf.boxed(_bounded(source, limits.sql_chars))
        if len(source) > limits.sql_chars:
            _note(pdf, f"… (cut: the SQL is {len(source):,} characters long; the first {limits.sql_chars:,} "
                       "are shown)")
    pdf.gap(3.0)


def _bullet(pdf: _Report, runs: list[Run]) -> None:
    """One item of a bullet list placed like the answers' lists."""
    pdf.mark("•", MARGIN + markdown.LIST_INDENT, markdown.MARK_WIDTH)
    pdf.rich_text(runs)
    pdf.set_left_margin(MARGIN)
    pdf.gap(0.8)


def _small_heading(pdf: _Report, text: str) -> None:
    """A section heading of a turn (Insights, Result, SQL), kept with the two lines below it."""
    pdf.gap(1.5)
    pdf.ensure_room(4.8 + 2 * markdown.BODY_LEADING)
    pdf.para(text, size=10.5, leading=5.2, style="B", color=ACCENT)
    pdf.gap(1.0)


def _note(pdf: _Report, text: str) -> None:
    """A small grey line (captions, cut notes): ``text`` is cleaned already or made here."""
    pdf.para(text, size=8.5, leading=4.4, style="I", color=MUTED)
    pdf.gap(1.0)


def _bounded(value: object, limit: int) -> str:
    """``value`` cleaned and at most ``limit`` characters (cut before cleaning, so a huge text costs little)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return clean(text[:limit])


def _listed(value: object) -> list:
    """A list from a field that should hold one (None or another type gives nothing, a tuple its items)."""
    return list(value) if isinstance(value, list | tuple) else []


def _moment(value: object) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (a naive one is taken as UTC), or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip()[:40])
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _when(value: object) -> str:
    """"14 March 2025, 09:05 UTC"; the text itself (cut) when it is no ISO time, "—" when empty."""
    moment = _moment(value)
    if moment is None:
        text = cut(clean(value).strip(), 40)
        return text or "—"
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"


# The title page and the notices about a partial export.


def _title_page(pdf: _Report, export: SessionExport, limits: ExportLimits, numbers: Sequence[int],
                outcome: _Outcome) -> None:
    """The first page: what the document is, about which session, which turns and datasets are in it, and
    why it is partial if it is. Bounded to fit its page (titles and lists are cut)."""
    pdf.set_left_margin(MARGIN)
    pdf.set_xy(MARGIN, MARGIN + 6)
    pdf.para("CONVERSATION EXPORT  ·  CONVOINSIGHT", size=8.5, leading=4.4, style="B", color=ACCENT)
    pdf.gap(5.0)
    pdf.para(pdf.title_text, size=22, leading=9.6, style="B")
    domain = cut(clean(export.domain).strip(), LINE_CHARS)
    if domain:
        pdf.gap(1.5)
        pdf.para(f"Domain: {domain}", size=11, leading=5.6, color=MUTED)
    pdf.gap(6.0)
    pdf.rule()
    pdf.gap(5.0)
    for label, value in _facts(export, numbers, outcome):
        _fact(pdf, label, value)
    reasons = _partial_reasons(export, limits, outcome)
    if reasons:
        pdf.gap(5.0)
        pdf.rich_text([Run("This export is partial. ", "B"), Run(" ".join(reasons))], size=9.5, leading=5.0,
                      fill=NOTICE_FILL)
    if not export.turns:
        pdf.gap(5.0)
        empty = "This session has no turns yet." if _count(export.total_turns) == 0 else \
            "No turns were chosen for this export."
        pdf.para(empty, style="I", color=MUTED)
    _datasets(pdf, export.datasets)


def _facts(export: SessionExport, numbers: Sequence[int], outcome: _Outcome) -> list[tuple[str, str]]:
    """(label, value) lines of the title page."""
    facts = [("Created", _when(export.created_at)), ("Last activity", _when(export.updated_at)),
             ("Exported", _when(export.exported_at))]
    if export.exported_by:
        facts.append(("Exported by", cut(clean(export.exported_by).strip(), LINE_CHARS)))
    facts.append(("Turns", _turns_in(numbers[: outcome.turns_rendered], export)))
    facts.append(("Session", cut(clean(export.session_id).strip(), LINE_CHARS) or "—"))
    return facts


def _fact(pdf: _Report, label: str, value: str) -> None:
    """A grey label and its value beside it; a long value wraps under itself, not under the label."""
    pdf.use(9, color=MUTED)
    pdf.set_xy(MARGIN, pdf.y)
    pdf.cell(36, 5.6, label)
    pdf.set_left_margin(MARGIN + 36)
    pdf.para(value, size=10, leading=5.6)
    pdf.set_left_margin(MARGIN)
    pdf.gap(0.6)


def _turns_in(numbers: Sequence[int], export: SessionExport) -> str:
    """"All 12 turns", "Turns 1–12 of 40", "Turns 2, 5–7 of 9", "None of 40"."""
    total = max(_count(export.total_turns), len(export.turns))
    if total == 0:
        return "None yet"
    if not numbers:
        return f"None of {total:,}"
    if list(numbers) == list(range(1, total + 1)):
        return "The only turn" if total == 1 else f"All {total:,} turns"
    spans = _spans(numbers)
    text = ", ".join(spans[:12]) + (", …" if len(spans) > 12 else "")
    single = len(numbers) == 1
    return f"{'Turn' if single else 'Turns'} {text} of {total:,}"


def _spans(numbers: Sequence[int]) -> list[str]:
    """[1, 2, 3, 7, 9, 10] -> ["1–3", "7", "9–10"]."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return [f"{a}" if a == b else f"{a}–{b}" for a, b in spans]


def _datasets(pdf: _Report, datasets: object) -> None:
    """The datasets the turns used, with version and source, as many as the page has room for."""
    items = _listed(datasets)
    pdf.gap(6.0)
    if pdf.room() < 4 * markdown.BODY_LEADING:  # only when everything above is at its longest
        return
    pdf.para("Datasets", size=11, leading=5.6, style="B", color=ACCENT)
    pdf.gap(1.0)
    if not items:
        pdf.para("No datasets are recorded for these turns.", style="I", color=MUTED)
        return
    for index, item in enumerate(items):
        if index == MAX_TITLE_DATASETS or pdf.room() < 6 * markdown.BODY_LEADING:  # an item has up to 5 lines
            pdf.para(f"and {len(items) - index} more", style="I", color=MUTED)
            return
        _bullet(pdf, _dataset_runs(item))


def _dataset_runs(item: ExportDataset) -> list[Run]:
    """"**sales_2024**  ·  version 3  ·  upload": the name in bold, the rest in grey."""
    name = cut(clean(item.name).strip(), LINE_CHARS) or "(unnamed)"
    runs = [Run(name, "B")]
    if item.version not in (None, ""):
        runs.append(Run(f"  ·  version {cut(clean(item.version), 40)}", color=MUTED))
    if item.source:
        runs.append(Run(f"  ·  {cut(clean(item.source), LINE_CHARS)}", color=MUTED))
    return runs


def _partial_reasons(export: SessionExport, limits: ExportLimits, outcome: _Outcome) -> list[str]:
    """Sentences saying which turns are missing and why: the caller's choice and each limit reached."""
    reasons = []
    total = max(_count(export.total_turns), len(export.turns))
    if export.turns and len(export.turns) < total:
        reasons.append(f"{len(export.turns):,} of the session's {total:,} turns were chosen for this export.")
    if outcome.partial == "turn_limit":
        reasons.append(f"An export holds at most {_count_of(limits.max_turns, 'turn')}: "
                       f"{_count_of(len(export.turns) - limits.max_turns, 'chosen turn')} left out.")
    elif outcome.partial == "page_limit":
        reasons.append(f"An export has at most {_count_of(limits.max_pages, 'page')}: {_page_limit_effect(outcome)}.")
    elif outcome.partial == "time_limit":
        reasons.append(f"The export ran out of time ({limits.time_limit_seconds:g} seconds): the turns from "
                       f"turn {outcome.stopped_before} on are left out.")
    return reasons


def _count_of(count: int, noun: str) -> str:
    """"1 turn", "3 turns", "1,200 pages"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _page_limit_effect(outcome: _Outcome) -> str:
    """What the page limit cost: a turn cut short, turns left out, or every turn."""
    if outcome.cut_short:
        return f"turn {outcome.last_number} is cut short and the turns after it are left out"
    if outcome.stopped_before:
        return f"the turns from turn {outcome.stopped_before} on are left out"
    return "no turn fits"


def _stop_sentence(export: SessionExport, limits: ExportLimits, outcome: _Outcome) -> str:
    """"This export stops at turn k of N: why." for the foot of the last page."""
    total = max(_count(export.total_turns), len(export.turns))
    why = {
        "turn_limit": f"an export holds at most {_count_of(limits.max_turns, 'turn')}",
        "page_limit": f"an export has at most {_count_of(limits.max_pages, 'page')}" +
                      (f", and turn {outcome.last_number} is cut short here" if outcome.cut_short else ""),
        "time_limit": f"the export ran out of time ({limits.time_limit_seconds:g} seconds)",
    }[outcome.partial or "turn_limit"]
    return f"This export stops at turn {outcome.last_number} of {total:,}: {why}."


def _end_notice(pdf: _Report, sentence: str) -> None:
    """The stop notice at the foot of the last page: in the room the last page allowed keeps free for it, or on
    a next page when this one is full and the limit allows one."""
    pdf.set_auto_page_break(True, BOTTOM)
    try:
        if pdf.room() < RESERVE:
            pdf.new_page()
            pdf.set_auto_page_break(True, BOTTOM)
        pdf.gap(3.0)
        pdf.rich_text([Run(sentence, "B")], size=9, leading=4.6, fill=NOTICE_FILL)
    except _PageLimit:  # no room left at all: the title page says it
        pdf.recover()
