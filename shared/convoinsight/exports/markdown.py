"""Markdown drawn with fpdf2: CommonMark blocks and GFM tables, inline styles as runs of one paragraph.

An answer is model output, so it is untrusted: raw HTML is off (markdown-it keeps it as text, printed as
such), an image is never loaded (its alt text is printed instead), a link is printed as text with its
address, and a token this module does not know is printed as its plain text. Nothing here opens a file or
the network. Markdown nested deeper than markdown-it's limit (it drops what lies below) is printed as plain
text instead, so no text is lost.

fpdf2 draws a paragraph of one style with ``multi_cell``. A paragraph of several styles (bold, italics,
inline code in the mono family) is built as fpdf2's own text fragments, one run at a time with the run's
font set, and handed to ``multi_cell`` in place of the fragments it would build from a plain string
(``Canvas.rich_text``): line breaking, page breaks, fallback fonts, shaping and bidi reordering stay fpdf2's.
Every text is drawn from the left margin over the whole width left of the right margin, and ends at the
left margin of the next line, so nothing runs off the page and no call starts at the right edge.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fpdf import FPDF
from fpdf.bidi import BidiParagraph, auto_detect_base_direction
from fpdf.enums import PDFResourceType, ResourceAccessPolicy, TextDirection
from fpdf.fonts import FontFace
from fpdf.output import OutputProducer
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from convoinsight.exports import fonts
from convoinsight.exports.fonts import MONO, SANS

Color = tuple[int, int, int]
INK: Color = (33, 37, 41)
MUTED: Color = (108, 117, 125)
ACCENT: Color = (22, 66, 112)
RULE: Color = (206, 212, 218)
CODE_FILL: Color = (243, 244, 246)
CODE_INK: Color = (52, 58, 64)
HEAD_FILL: Color = (230, 235, 241)
ZEBRA: Color = (247, 248, 250)
QUOTE_BAR: Color = (173, 181, 189)
PT = 25.4 / 72  # millimetres per point
MONO_SCALE = 0.9  # DejaVu Sans Mono looks larger than DejaVu Sans at one size
BODY_SIZE = 10.0
BODY_LEADING = 5.1
TABLE_SIZE = 8.0
CODE_SIZE = 8.5
ANSWER_CELL_CHARS = 300  # a cell of an answer's table; a row of such cells still fits on a page
HEADER_CHARS = 120
MIN_COLUMN = 9.0  # mm: the widest glyph (DejaVu Sans Bold, 8 pt) and the cell padding fit
CELL_PADDING = 1.3  # mm left and right of a cell's text
CELL_LINES = 30  # lines a table cell may take, and a quarter of that for a header
_HEADING_SIZES = {"h1": 15.0, "h2": 13.5, "h3": 12.0, "h4": 11.0, "h5": 10.5, "h6": 10.5}
_BULLETS = ("•", "◦", "▪")
LIST_INDENT = 1.5  # mm from the text's left edge to a top-level list's marks; a nested list's marks end
# past its parent item's text start, so each level indents by a mark's width
MARK_WIDTH = 5.0  # mm for a bullet and the space after it
_MAX_INDENT_LEVELS = 6  # deeper lists indent no more: the text keeps a readable width
_QUOTE_INDENT = 4.0
_NUMBER = re.compile(r"^[\s(]*[-+−]?[$€£¥]?\s?\d[\d,.\s]*%?\)?\s*$")
_SCHEMES = ("http://", "https://", "mailto:")
# Scripts that need shaping or bidi: Hebrew to NKo, Indic to Sinhala, Thai to Tibetan, Myanmar, Khmer,
# Mongolian, bidi controls, Hebrew and Arabic presentation forms, historic right-to-left blocks.
_COMPLEX = re.compile("[\u0590-\u0dff\u0e00-\u0fff\u1000-\u109f\u1780-\u18af\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069\ufb1d-\ufdff\ufe70-\ufefe\U00010800-\U00010fff\U0001e800-\U0001efff]")


@dataclass(frozen=True)
class Run:
    """A stretch of one paragraph in one style."""

    text: str
    style: str = ""  # "", "B", "I" or "BI"
    mono: bool = False
    strike: bool = False
    color: Color | None = None


class Canvas(FPDF):
    """An A4 page surface in millimetres with the bundled fonts, drawing paragraphs of mixed styles."""

    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.resource_access_policy = ResourceAccessPolicy.NONE  # no file or URL is ever read for this document
        self.c_margin = 0  # text starts at the margin, flush with tables, boxes and rules
        fonts.register(self)
        self._fragments: tuple[Any, ...] | None = None
        self._open_rules: list[list[float]] = []  # [x, top] of each left rule (block quote) still open

    def output(self, *args: Any, **kwargs: Any) -> Any:
        """The PDF, embedding only the fonts some page uses (see ``_UsedFontsOnly``)."""
        return super().output(*args, output_producer_class=_UsedFontsOnly, **kwargs)

    def _preload_bidirectional_text(self, text: str, markdown: bool) -> Sequence[Any]:
        """fpdf2's fragments of ``text``, or the ones ``rich_text`` prepared for the ``multi_cell`` it calls."""
        prepared = self._take_prepared()
        return prepared if prepared is not None else super()._preload_bidirectional_text(text, markdown)

    def _preload_font_styles(self, text: str | None, markdown: bool,
                             _initial_emphasis: tuple[bool, bool, bool, bool] | None = None) -> Sequence[Any]:
        """The same, on the path ``multi_cell`` takes when shaping is off."""
        prepared = self._take_prepared()
        if prepared is not None:
            return prepared
        return super()._preload_font_styles(text, markdown, _initial_emphasis=_initial_emphasis)

    def _take_prepared(self) -> tuple[Any, ...] | None:
        """The prepared fragments, once: ``multi_cell`` asks at its start only, and what it draws later (the
        footer of a page it breaks) must get its own text."""
        prepared, self._fragments = self._fragments, None
        return prepared

    def get_fallback_font(self, char: str, style: str = "") -> str | None:
        """fpdf2's pick among DejaVu Sans and Mono, else the CJK font, added to this document on first need."""
        found = super().get_fallback_font(char, style)
        if found is None and ord(char) in fonts.cjk_points():
            found = fonts.add_cjk(self)
        return found

    def shape_for(self, text: str) -> None:
        """Text shaping (HarfBuzz and bidi) on for text in a script that needs it (right to left, Indic, Thai...)
        and off for the rest: shaping Latin or CJK text changes nothing a reader sees, yet fpdf2 then shapes
        every width it measures while breaking lines, which took a third of the render time (measured)."""
        needed = bool(_COMPLEX.search(text))
        if needed != bool(self.text_shaping):
            self.set_text_shaping(needed)

    def use(self, size: float, style: str = "", *, mono: bool = False, color: Color = INK) -> None:
        """Set the font and text colour (the mono family has no italics: its italics are upright)."""
        if mono:
            self.set_font(MONO, "B" if "B" in style else "", size)
        else:
            self.set_font(SANS, style, size)
        self.set_text_color(*color)

    def room(self) -> float:
        """Height left above the page break."""
        return self.page_break_trigger - self.y

    def ensure_room(self, height: float) -> None:
        """Break the page now unless ``height`` fits below (a heading kept with its text, a picture whole).
        The break asks ``accept_page_break`` like fpdf2's own breaks, so a page limit holds here too."""
        if height > self.room() and self.accept_page_break:
            self.add_page(same=True)

    def gap(self, height: float) -> None:
        """Vertical space, dropped at the top of a page."""
        if self.y > self.t_margin + 0.01:
            self.y = min(self.y + height, self.page_break_trigger)

    def para(self, text: str, *, size: float = BODY_SIZE, leading: float = BODY_LEADING, style: str = "",
             color: Color = INK, align: str | None = None) -> None:
        """One paragraph of one style (``text`` already cleaned)."""
        self.rich_text([Run(text, style)], size=size, leading=leading, color=color, align=align)

    def mark(self, mark: str, left: float, width: float, *, size: float = BODY_SIZE,
             leading: float = BODY_LEADING, color: Color = INK) -> None:
        """A list mark (bullet or number) ending just before ``left + width`` on the current line (so bullets
        and the dots of numbers line up); the item's text is then drawn with the left margin at ``left + width``,
        so its lines wrap under each other, past the mark."""
        self.ensure_room(leading)
        self.shape_for(mark)
        self.use(size, color=color)
        self.set_xy(left, self.y)
        self.cell(width - 1.6, leading, mark, align="R")
        self.set_left_margin(left + width)
        self.x = self.l_margin

    def rich_text(self, runs: Sequence[Run], *, size: float = BODY_SIZE, leading: float = BODY_LEADING,
                  color: Color = INK, align: str | None = None, fill: Color | None = None) -> None:
        """One paragraph of ``runs`` (cleaned text) wrapped from the left margin to the right one; right-aligned
        when its first strong character is right to left (Hebrew, Arabic); on a padded box of ``fill`` if given.
        Ends at the left margin of the next line."""
        runs = [run for run in runs if run.text]
        if not runs:
            return
        joined = "".join(run.text for run in runs)
        self.shape_for(joined)
        direction = auto_detect_base_direction(joined) if self.text_shaping else TextDirection.LTR
        self._fragments = self._fragments_of(runs, size, color, direction)
        self.x = self.l_margin
        if fill:
            self.set_fill_color(*fill)
        try:
            self.multi_cell(0, leading, " ", align=align or ("R" if direction == TextDirection.RTL else "L"),
                            fill=fill is not None, padding=(2.4, 3.0) if fill else 0,
                            new_x="LMARGIN", new_y="NEXT")
        finally:
            self._fragments = None
            self.use(size, color=color)

    def _fragments_of(self, runs: Sequence[Run], size: float, color: Color,
                      direction: TextDirection) -> tuple[Any, ...]:
        """fpdf2's fragments of every run in its font, each tagged with its bidi direction in the paragraph."""
        page, self.page = self.page, 0  # set_font writes to the page unless there is none
        shaping = self.text_shaping
        fragments: list[Any] = []
        try:
            for run, text, fragment_direction in self._pieces(runs, direction):
                self.use(size * MONO_SCALE if run.mono else size, run.style, mono=run.mono,
                         color=run.color or color)
                self.strikethrough = run.strike
                if shaping:
                    shaping["paragraph_direction"], shaping["fragment_direction"] = direction, fragment_direction
                fragments.extend(super()._preload_font_styles(text, False))
        finally:
            self.page = page
            if shaping:
                shaping["fragment_direction"] = None
            self.strikethrough = False
        return tuple(fragments)

    def _pieces(self, runs: Sequence[Run],
                direction: TextDirection) -> list[tuple[Run, str, TextDirection | None]]:
        """The runs cut where the direction changes, from one bidi pass over the whole paragraph (what fpdf2 does
        for one string): a right-to-left phrase keeps its word order even when a word of it is in bold."""
        if not self.text_shaping:
            return [(run, run.text, None) for run in runs]
        joined = "".join(run.text for run in runs)
        segments = iter(BidiParagraph(text=joined, base_direction=direction, preserve_bn_chars=True,
                                      alias=self.str_alias_nb_pages).get_bidi_fragments())
        pieces: list[tuple[Run, str, TextDirection | None]] = []
        left, segment_direction = 0, direction  # characters left in the current segment, its direction
        for run in runs:
            at = 0
            while at < len(run.text):
                if not left:
                    segment, segment_direction = next(segments, (run.text[at:], direction))
                    left = len(segment)
                take = min(left, len(run.text) - at)
                pieces.append((run, run.text[at:at + take], segment_direction))
                at, left = at + take, left - take
        return pieces

    def boxed(self, text: str, *, size: float = CODE_SIZE, fill: Color = CODE_FILL, color: Color = CODE_INK) -> None:
        """Monospaced text (code, SQL) in a light box across the width, lines kept, long tokens broken."""
        if not text.strip():
            return
        self.shape_for(text)
        self.use(size, mono=True, color=color)
        self.set_fill_color(*fill)
        self.x = self.l_margin
        self.multi_cell(0, size * PT * 1.35, text.rstrip("\n"), align="L", fill=True, padding=(1.8, 2.4),
                        new_x="LMARGIN", new_y="NEXT")
        self.use(BODY_SIZE)

    def rule(self, *, color: Color = RULE, width: float = 0.25) -> None:
        """A horizontal line across the text width at the current position."""
        self.set_draw_color(*color)
        self.set_line_width(width)
        self.line(self.l_margin, self.y, self.w - self.r_margin, self.y)

    def open_rule(self, x: float) -> None:
        """Start a vertical rule at ``x`` here; it follows the text to ``close_rule``, over page breaks."""
        self._open_rules.append([x, self.y])

    def close_rule(self) -> None:
        """End the innermost open rule here, drawing its last part."""
        x, top = self._open_rules.pop()
        self._vertical(x, top, self.y)

    def _vertical(self, x: float, top: float, bottom: float) -> None:
        """A block quote's bar from ``top`` to ``bottom`` on the current page."""
        if bottom > top:
            self.set_draw_color(*QUOTE_BAR)
            self.set_line_width(0.7)
            self.line(x, top, x, bottom)

    def drop_rules(self) -> None:
        """Forget open rules (the text they followed was cut)."""
        self._open_rules.clear()

    def footer(self) -> None:
        """Called on a page before the next starts: draws the part of open rules on this page."""
        for rule in self._open_rules:
            self._vertical(rule[0], rule[1], self.page_break_trigger)
            rule[1] = self.t_margin

    def columns_that_fit(self, wanted: int) -> int:
        """How many of ``wanted`` table columns fit across the text width at ``MIN_COLUMN`` each."""
        return max(1, min(wanted, int(self.epw // MIN_COLUMN)))

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[str]], aligns: Sequence[str], *,
             size: float = TABLE_SIZE) -> None:
        """A table across the text width with ``header`` (bold, shaded, repeated on each page), rows as given
        (cleaned, padded to the header's length), text wrapped inside its cell. Each column is at least
        ``MIN_COLUMN`` wide (the widest glyph fits) and its cells are cut to what stays well within a page, as
        fpdf2 refuses a row taller than a page; callers keep to ``columns_that_fit``."""
        width = len(header)
        widths = column_widths(header, rows, self.epw)
        fits = [cell_chars_that_fit(column, size) for column in widths]
        head = [cut(name, fits[i] // 4) for i, name in enumerate(header)]
        body = [[cut(cell, fits[i]) for i, cell in enumerate([*row[:width], *([""] * (width - len(row)))])]
                for row in rows]
        self.shape_for("".join(head) + "".join("".join(row) for row in body))
        self.use(size)
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        self.x = self.l_margin
        heading = FontFace(family=SANS, emphasis="BOLD", color=INK, fill_color=HEAD_FILL, size_pt=size)
        with self.table(width=self.epw, col_widths=widths, text_align=tuple(aligns), line_height=size * PT * 1.35,
                        padding=(1.0, CELL_PADDING), borders_layout="HORIZONTAL_LINES", headings_style=heading,
                        cell_fill_color=ZEBRA, cell_fill_mode="EVEN_ROWS", align="LEFT", v_align="TOP") as table:
            for cells in (head, *body):
                table.row(cells)
        self.x = self.l_margin
        self.use(BODY_SIZE)


class _UsedFontsOnly(OutputProducer):
    """fpdf2 embeds every font added to a document, used or not. All seven bundled fonts are on each document
    (the fallback lookups need them), so the ones no page uses, often the CJK font whose subsetting alone takes
    0.1 s, are taken off before the PDF is written. Runs after the title page is drawn (fpdf2 draws it in
    ``output``, just before this), so its fonts count too."""

    def __init__(self, fpdf: FPDF) -> None:
        used = fpdf._resource_catalog.get_used_resources(PDFResourceType.FONT)
        for key in [key for key, font in fpdf.fonts.items() if font.i not in used]:
            del fpdf.fonts[key]
        super().__init__(fpdf)


def column_widths(header: Sequence[str], rows: Sequence[Sequence[str]], total: float) -> list[float]:
    """Column widths in mm adding up to ``total``: each gets ``MIN_COLUMN`` (or an equal share if that is less)
    and the rest is shared by the text the columns hold: wide text columns, narrow number columns, a header
    word counted in part only (it wraps well enough)."""
    weights = []
    for i, name in enumerate(header):
        longest = max((len(row[i]) for row in rows if i < len(row)), default=0)
        word = max((len(part) for part in name.split()), default=1)
        weights.append(min(max(longest, min(word, 14), 4), 32))
    floor = min(MIN_COLUMN, total / max(len(weights), 1))
    spare = total - floor * len(weights)
    return [floor + spare * weight / sum(weights) for weight in weights]


def cell_chars_that_fit(width: float, size: float) -> int:
    """Characters a table cell ``width`` mm wide holds in ``CELL_LINES`` lines of ``size`` pt, counting every
    character as wide as a CJK one: a row of such cells (under a header of a quarter of that) fits a page."""
    per_line = max(int((width - 2 * CELL_PADDING) / (size * PT * 1.0)), 1)
    return per_line * CELL_LINES


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters long, an ellipsis ending it when it was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def looks_numeric(text: str) -> bool:
    """A cell of an answer's table that reads as a number (1,234.5 / -12% / $40), aligned right."""
    return bool(_NUMBER.match(text))


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark without raw HTML, plus GFM tables and strikethrough (built once per process)."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render(canvas: Canvas, source: str, *, columns: int) -> None:
    """Draw the markdown ``source`` (cleaned text) at the current position; tables keep ``columns`` columns."""
    parser = _parser()
    tokens = parser.parse(source)
    writer = _Writer(canvas, columns)
    if any(token.level >= parser.options["maxNesting"] - 1 for token in tokens):
        writer.plain(source, "Shown as plain text: the answer is nested too deeply to lay out.")
        return
    writer.blocks(SyntaxTreeNode(tokens).children, tight=False)


class _Writer:
    """Draws the block nodes of one markdown document; the list depth and quote colour are its state."""

    def __init__(self, canvas: Canvas, columns: int) -> None:
        self.canvas = canvas
        self.columns = max(columns, 1)
        self.depth = 0
        self.color = INK
        self.handlers = {
            "paragraph": self._paragraph, "heading": self._heading, "bullet_list": self._list,
            "ordered_list": self._list, "fence": self._code, "code_block": self._code,
            "blockquote": self._quote, "hr": self._hr, "table": self._table,
        }

    def blocks(self, nodes: Sequence[SyntaxTreeNode], *, tight: bool) -> None:
        for node in nodes:
            handler = self.handlers.get(node.type)
            if handler is None:
                self._fallback(node)
            else:
                handler(node, tight)

    def plain(self, source: str, note: str) -> None:
        """The source's paragraphs as plain text, then ``note``."""
        for block in re.split(r"\n\s*\n", source):
            if block.strip():
                self.canvas.para(block.strip(), color=self.color)
                self.canvas.gap(1.6)
        self.canvas.para(note, size=8.5, style="I", color=MUTED)

    def _fallback(self, node: SyntaxTreeNode) -> None:
        """A block this writer does not know: its text, as a paragraph."""
        text = plain_text(node)
        if text.strip():
            self.canvas.para(text, color=self.color)
            self.canvas.gap(2.0)

    def _paragraph(self, node: SyntaxTreeNode, tight: bool) -> None:
        self.canvas.rich_text(inline_runs(node), color=self.color)
        self.canvas.gap(0.8 if tight else 2.2)

    def _heading(self, node: SyntaxTreeNode, tight: bool) -> None:
        size = _HEADING_SIZES.get(node.tag, BODY_SIZE)
        leading = size * PT * 1.3
        self.canvas.gap(2.6)
        self.canvas.ensure_room(leading + 2 * BODY_LEADING)  # never a heading alone at the foot of a page
        runs = [Run(run.text, "B" + run.style.replace("B", ""), run.mono, run.strike, run.color)
                for run in inline_runs(node)]
        self.canvas.rich_text(runs, size=size, leading=leading, color=ACCENT)
        self.canvas.gap(1.2)

    def _list(self, node: SyntaxTreeNode, tight: bool) -> None:
        """A bullet or ordered list (its start number kept), indented one mark's width per level up to a cap."""
        ordered = node.type == "ordered_list"
        start = _start(node) if ordered else 1
        marks = [f"{start + i}." if ordered else _BULLETS[self.depth % len(_BULLETS)]
                 for i in range(len(node.children))]
        self.canvas.use(BODY_SIZE)
        width = max(MARK_WIDTH, max((self.canvas.get_string_width(m) for m in marks), default=0) + 1.8)
        margin = self.canvas.l_margin
        if self.depth == 0:
            left = margin + LIST_INDENT
        else:
            left = margin if self.depth < _MAX_INDENT_LEVELS else margin - width
        tight_list = not any(not child.hidden for item in node.children for child in item.children
                             if child.type == "paragraph")
        self.depth += 1
        try:
            for mark, item in zip(marks, node.children, strict=True):
                self._item(item, mark, left, width, tight_list)
        finally:
            self.depth -= 1
            self.canvas.set_left_margin(margin)
            self.canvas.x = margin
        self.canvas.gap(0.6 if tight else 1.6)

    def _item(self, item: SyntaxTreeNode, mark: str, left: float, width: float, tight: bool) -> None:
        """One list item: the mark at ``left``, the item's blocks indented past it."""
        canvas = self.canvas
        canvas.set_left_margin(left)
        canvas.mark(mark, left, width, color=self.color)
        if item.children:
            self.blocks(item.children, tight=tight)
        else:
            canvas.ln(BODY_LEADING)
        canvas.set_left_margin(left)

    def _code(self, node: SyntaxTreeNode, tight: bool) -> None:
        self.canvas.gap(0.8)
        self.canvas.boxed(node.content)
        self.canvas.gap(2.4)

    def _quote(self, node: SyntaxTreeNode, tight: bool) -> None:
        """A block quote: its blocks indented and grey, a bar on their left over every page they cover."""
        canvas = self.canvas
        margin, color = canvas.l_margin, self.color
        canvas.open_rule(margin + 1.0)
        canvas.set_left_margin(margin + _QUOTE_INDENT)
        self.color = MUTED
        try:
            self.blocks(node.children, tight=tight)
        finally:
            self.color = color
            canvas.set_left_margin(margin)
            canvas.x = margin
        canvas.close_rule()
        canvas.gap(1.6)

    def _hr(self, node: SyntaxTreeNode, tight: bool) -> None:
        self.canvas.gap(1.5)
        self.canvas.ensure_room(3)
        self.canvas.rule()
        self.canvas.gap(3.0)

    def _table(self, node: SyntaxTreeNode, tight: bool) -> None:
        """A GFM table: the columns that fit (up to ``columns``), the names of the others in a note."""
        rows = [row for part in node.children for row in part.children if row.type == "tr"]
        if not rows:
            return
        cells = [[cut(plain_text(cell).strip(), ANSWER_CELL_CHARS) for cell in row.children] for row in rows]
        header = [cut(name, HEADER_CHARS) for name in cells[0]]
        shown = self.canvas.columns_that_fit(self.columns)
        body = [row[:shown] for row in cells[1:]]
        aligns = [_align(rows[0].children[i], [row[i] for row in body if i < len(row)])
                  for i in range(min(len(header), shown))]
        self.canvas.gap(0.8)
        self.canvas.grid(header[:shown], body, aligns)
        hidden = header[shown:]
        if hidden:
            self.canvas.para(f"{len(hidden)} more columns not shown: {', '.join(hidden)}", size=8, color=MUTED)
        self.canvas.gap(2.4)


def _start(node: SyntaxTreeNode) -> int:
    """The first number of an ordered list (``3.`` starts at 3)."""
    try:
        return int(node.attrs.get("start", 1))
    except (TypeError, ValueError):
        return 1


def _align(head: SyntaxTreeNode, cells: Sequence[str]) -> str:
    """A column's alignment: the table's own (``:--:``), else right for numbers, else left."""
    style = str(head.attrs.get("style", ""))
    for name, align in (("right", "RIGHT"), ("center", "CENTER"), ("left", "LEFT")):
        if f"text-align:{name}" in style:
            return align
    filled = [cell for cell in cells if cell]
    return "RIGHT" if filled and all(looks_numeric(cell) for cell in filled) else "LEFT"


def plain_text(node: SyntaxTreeNode) -> str:
    """All the text under ``node``, styles dropped; a line break as a newline, an image as its alt text."""
    if node.type in ("text", "code_inline", "code_block", "fence", "html_inline", "html_block"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return "\n" if node.type == "hardbreak" else " "
    if node.type == "image":
        return f"[image: {node.content}]"
    parts = [plain_text(child) for child in node.children]
    separator = "\n" if node.is_root or node.type in ("bullet_list", "ordered_list", "blockquote") else ""
    text = separator.join(parts)
    return text or node.content


def inline_runs(block: SyntaxTreeNode) -> list[Run]:
    """The runs of a paragraph or heading node (the ``inline`` node it holds)."""
    runs: list[Run] = []
    for child in block.children:
        if child.type == "inline":
            _walk(child, Run(""), runs)
        else:
            runs.append(Run(plain_text(child)))
    return runs


def _walk(node: SyntaxTreeNode, style: Run, runs: list[Run]) -> None:
    """Append the runs of ``node``'s children, each in ``style`` plus its own emphasis."""
    for child in node.children:
        kind = child.type
        if kind == "text":
            runs.append(_styled(style, child.content))
        elif kind == "softbreak":
            runs.append(_styled(style, " "))
        elif kind == "hardbreak":
            runs.append(_styled(style, "\n"))
        elif kind == "code_inline":
            runs.append(Run(child.content, style.style, True, style.strike, CODE_INK))
        elif kind in ("strong", "em", "s"):
            _walk(child, _emphasis(style, kind), runs)
        elif kind == "link":
            _walk(child, style, runs)
            runs.extend(_address(child))
        elif kind == "image":
            runs.append(Run(f"[image: {child.content}]", "I", color=MUTED))
        else:
            runs.append(_styled(style, plain_text(child)))


def _styled(style: Run, text: str) -> Run:
    """``text`` in the style ``style`` carries (a Run used as a style has no text of its own)."""
    return Run(text, style.style, style.mono, style.strike, style.color)


def _emphasis(style: Run, kind: str) -> Run:
    """``style`` with bold (strong), italics (em) or strikethrough (s) added."""
    if kind == "s":
        return Run("", style.style, style.mono, True, style.color)
    letter = "B" if kind == "strong" else "I"
    letters = "".join(sorted(set(style.style + letter)))
    return Run("", letters, style.mono, style.strike, style.color)


def _address(link: SyntaxTreeNode) -> list[Run]:
    """`` (address)`` after a link's text: links are not clickable, and the address may matter to the reader.
    Left out when the text already shows it (autolinks) or it is no web or mail address."""
    href = str(link.attrs.get("href") or "")
    text = plain_text(link)
    if not href.lower().startswith(_SCHEMES) or href.removeprefix("mailto:") in text:
        return []
    return [Run(f" ({cut(href, 100)})", "", color=MUTED)]
