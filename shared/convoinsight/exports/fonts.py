"""The bundled fonts on a PDF, and the cleaning that makes every character of a text visible.

DejaVu Sans (regular, bold, oblique, bold oblique) is the main family, DejaVu Sans Mono the code family and
Droid Sans Fallback the CJK fallback (fonts/README.md). fpdf2 looks a character up in the current font, then
in the fallback fonts; one that none of them has is dropped with a warning in the log, so the reader would
never know it was there. ``clean`` maps every such code point (emoji, unassigned ones, lone surrogates) to
U+FFFD before text reaches fpdf2, replaces control characters, and normalises to NFC.

Parsing the fonts costs about 0.3 s (the 4 MB CJK font 0.2 s and 35 MiB of it), so each file is parsed once
per process into a prototype, the CJK one only when some text needs it, and every document gets a light copy
with its own per-document state: the subset of glyphs used, the widths cache and the fontTools handle (the
subsetter prunes it in place when the PDF is written). The copy follows fpdf2's own ``TTFFont.__deepcopy__``
(fpdf2 2.8.9 is pinned): read-only tables (cmap, glyph ids) are shared, everything written is fresh.
"""

from __future__ import annotations

import copy
import functools
import struct
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

FONT_DIR = Path(__file__).with_name("fonts")
SANS = "dejavusans"
MONO = "dejavusansmono"
CJK = "droidsansfallback"
REPLACEMENT = "\ufffd"
TAB = "    "
_FILES = {  # (family, style): file
    (SANS, ""): "DejaVuSans.ttf",
    (SANS, "B"): "DejaVuSans-Bold.ttf",
    (SANS, "I"): "DejaVuSans-Oblique.ttf",
    (SANS, "BI"): "DejaVuSans-BoldOblique.ttf",
    (MONO, ""): "DejaVuSansMono.ttf",
    (MONO, "B"): "DejaVuSansMono-Bold.ttf",
    (CJK, ""): "DroidSansFallbackFull.ttf",
}
_LINE_BREAKS = "\r\x0b\x0c\x85\u2028\u2029"


@functools.cache
def _prototype(family: str, style: str) -> TTFFont:
    """The bundled font of ``family`` and ``style`` parsed once (fpdf2 keys it as family + style)."""
    from fpdf import FPDF

    scratch = FPDF()
    scratch.add_font(family, style, FONT_DIR / _FILES[(family, style)])
    return scratch.fonts[family + style]  # type: ignore[return-value]


def _copy_for(proto: TTFFont, index: int) -> TTFFont:
    """A font for one document: shares the prototype's read-only tables, owns what a render writes."""
    from fontTools import ttLib
    from fpdf.fonts import SubsetMap

    font = copy.copy(proto)
    font.i = index
    font.ttfont = ttLib.TTFont(proto.ttffile, recalcTimestamp=False, lazy=True)
    font._hbfont = None  # HarfBuzz's font has a per-call size set on it: one per document
    font.cw = proto.cw.copy()  # a defaultdict: reading a missing width stores it
    font.desc = copy.copy(proto.desc)  # the writer sets its font name and object id
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    return font


def _add(pdf: FPDF, family: str, style: str) -> str:
    """Put a copy of the prototype on ``pdf`` unless it is there; its key."""
    key = family + style
    if key not in pdf.fonts:
        pdf.fonts[key] = _copy_for(_prototype(family, style), len(pdf.fonts) + 1)
    return key


def register(pdf: FPDF) -> None:
    """Add DejaVu Sans and Mono to ``pdf``, Sans then Mono as fallbacks, and turn on shaping.

    ``exact_match=False``: a style without the character gives way to another style of the families (DejaVu
    Sans Oblique has no Arabic, say) instead of the character being dropped. The CJK font comes on first need
    (``add_cjk``)."""
    for family, style in _FILES:
        if family != CJK:
            _add(pdf, family, style)
    pdf.set_fallback_fonts([SANS, MONO], exact_match=False)
    pdf.set_text_shaping(True)  # HarfBuzz + bidi: Hebrew and Arabic right to left (see Canvas.shape_for)


def add_cjk(pdf: FPDF) -> str:
    """Add the CJK font to ``pdf`` (once) and return its key. Parsing it costs 0.2 s and 35 MiB per process,
    which a process that never prints CJK does not pay."""
    return _add(pdf, CJK, "")


@functools.cache
def cjk_points() -> frozenset[int]:
    """The code points the CJK font has, from the groups of its format 12 cmap read straight from the file:
    fontTools would first name all its 30,000 glyphs (0.1 s at every cold start, even with no CJK to print)."""
    data = (FONT_DIR / _FILES[(CJK, "")]).read_bytes()
    (tables,) = struct.unpack_from(">H", data, 4)
    cmap = next(offset for tag, _, offset, _ in (struct.unpack_from(">4sIII", data, 12 + 16 * i)
                                                 for i in range(tables)) if tag == b"cmap")
    (count,) = struct.unpack_from(">H", data, cmap + 2)
    subtables = [cmap + struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)[2] for i in range(count)]
    start = next(at for at in subtables if struct.unpack_from(">H", data, at)[0] == 12)
    (groups,) = struct.unpack_from(">I", data, start + 12)
    points: set[int] = set()
    for i in range(groups):
        first, last, _ = struct.unpack_from(">III", data, start + 16 + 12 * i)
        points.update(range(first, last + 1))
    return frozenset(points)


@functools.cache
def covered() -> frozenset[int]:
    """The code points at least one bundled font has a glyph for."""
    points = set(cjk_points())
    for family, style in _FILES:
        if family != CJK:
            points.update(_prototype(family, style).cmap)
    return frozenset(points)


class _VisibleTable(dict):
    """A ``str.translate`` table: line breaks to newline, tab to spaces, other control characters and every
    code point no font covers to U+FFFD; anything else is kept (looked up on first use, not stored)."""

    def __init__(self, points: frozenset[int]) -> None:
        super().__init__()
        self._points = points
        for code in (*range(0x20), *range(0x7F, 0xA0)):
            self[code] = REPLACEMENT
        self.update({ord(c): "\n" for c in _LINE_BREAKS})
        self[ord("\n")] = "\n"
        self[ord("\t")] = TAB

    def __missing__(self, code: int) -> int | str:
        return code if code in self._points else REPLACEMENT


@functools.cache
def _table() -> _VisibleTable:
    return _VisibleTable(covered())


def clean(text: object) -> str:
    """``text`` as fpdf2 may draw it: NFC, no control characters, every character one the fonts have or U+FFFD.

    Non-strings (a number, None) are printed as ``str()`` would, None as nothing."""
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    value = unicodedata.normalize("NFC", value.replace("\r\n", "\n"))
    return value.translate(_table())
