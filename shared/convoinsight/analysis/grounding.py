"""Grounding check for the analyzer's prose: every number it writes must come from the result table.

Wrong numbers in the written analysis are what users complain about most, and an LLM produces them
fluently. ``check_grounding`` finds each number in the summary and insights and accepts it only when
the table supports it, within the rounding the writer used: directly (a cell, a column's total, mean,
median, count, a number inside a label or a date, a row count or rank position) or by one derivation
(a share of a column's total or maximum, a difference, ratio or percent change between two cells of
one column). Unsupported prose is removed, never rewritten (see ``_prune``), and the result says
whether everything was verified. Numbers written in words ("twice", "three") are out of scope.

The table an answer holds may be the first rows of its result only. Given ``stats`` (the engine's
statistics of the whole result, ``sql/stats.py``), totals, means, medians, extremes, the largest groups'
shares, first-to-last changes and distinct counts are those of every row; without them such
aggregates are trusted only of a complete table, and a truncated one supports its cells alone. What
``verified`` promises is written in ``queries/verified.py``.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

# Pairwise derivations are O(m^2) per column, so they are searched among a capped set of values: the
# first rows (the analyzer is shown only RESULT_ROWS_FOR_ANALYSIS = 50 rows, so those are the pairs it
# can compare), the extremes (for "the top is 3x the bottom" and max - min), the last row (a trend's
# start-to-end change) and the whole result's own extremes, largest groups, first and last values. Each
# search is then O(m log m) with m <= 71 (+ a few whole-result values), which keeps a 1,000 x 20 table fast.
PAIR_ROWS = 50
PAIR_EXTREMES = 10
# A bare small integer ("the 3 regions") may be a rank position; larger ones only with a rank word
# ("top 25", "#12", "15th"), or every integer up to the row count would pass on a big table.
FREE_RANK = 10
NOTE = " (Some figures could not be verified against the result table.)"


@dataclass(frozen=True)
class NumberCheck:
    text: str  # the number as written, e.g. "1,234.5", "12%", "$3.2M", "-4"
    value: float  # parsed value; a percent is kept as written ("12%" -> 12.0, is_percent=True)
    supported: bool
    basis: str | None  # cell (min and max are cells), total, mean, median, count, rank, year, date, label,
    #                    share, change (percent change), ratio, difference
    is_percent: bool = False  # beyond the four fields asked for; defaulted, so they still construct it


@dataclass(frozen=True)
class GroundingResult:
    verified: bool  # every number supported
    summary: str  # the summary without its unsupported sentences (or with NOTE appended)
    insights: list[str]  # insights with unsupported ones removed
    checks: list[NumberCheck]
    unsupported: list[str]  # the unsupported numbers as written, one entry per occurrence


_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
# Dates and clock times are calendar positions, not measures, so they are not checked at all.
_SKIP = re.compile(
    r"(?<![\w.])\d{4}-(?:0?[1-9]|1[0-2])(?:-\d{1,2})?(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?!\w)"
    r"|(?<![\w.])\d{1,2}:\d{2}(?::\d{2})?(?!\w)"
    r"|(?<![\w.])\d{1,4}[/.]\d{1,2}[/.]\d{2,4}(?![\w.])"
    rf"|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?!\s*(?:%|percent|[.,]\d))"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![a-z])",
    re.I,
)
_NUM = re.compile(
    r"(?P<cur>[$€£])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:(?P<suf>[kKMBm]|bn|mn)(?!\w)|\s?(?P<word>(?i:thousand|million|billion))\b|(?P<ord>st|nd|rd|th)(?!\w))?"
    r"(?P<pct>\s?%|\s?(?i:per\s?cent(?:age\s+points?)?|pp)\b)?"
    r"(?P<times>[x×](?!\w)|\s(?i:times)\b)?"
)
_MULT = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
_HEDGE = re.compile(r"(?:\b(?:about|around|nearly|roughly|approximately|approx\.|almost|circa|some)|[~≈])\s*$", re.I)
_RANK = re.compile(r"(?:\b(?:top|bottom|first|last|rank(?:ed|s|ing)?|no\.|number|place|position)|#)\s*$", re.I)
_LABEL_NUM = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_LABEL_TOKEN = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_]*\d\w*")
_YEAR = re.compile(r"(?<!\d)(?:19\d\d|20\d\d|2100)(?!\d)")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|vs|approx|no|etc|incl|avg|est|ca|cf|dr|mr|mrs|ms|st|inc|ltd|co)|\b[A-Z])$",
                     re.I)
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+|\s*\n\s*")


@dataclass
class _Token:
    start: int
    text: str
    value: float
    half: float  # half a unit of the last digit written: the rounding the writer may have applied
    kind: str  # "plain", "pct" or "times"
    integer: bool = False  # digits only: may be a count, a rank or a year
    rank_word: bool = False
    label: str | None = None  # a number glued to letters ("Q3", "B6", "A320"): the whole token


def _tokens(text: str) -> list[_Token]:
    masked = _SKIP.sub(lambda m: " " * len(m.group()), text)
    out = []
    for m in _NUM.finditer(masked):
        s, e = m.span()
        before, after = masked[s - 1:s], masked[e:e + 1]
        num, suf, word = m["num"], m["suf"], (m["word"] or "").lower()
        glued = (before.isalnum() or before in ("_", ".")) or (after.isalnum() or after == "_")
        if suf == "m" and not m["cur"]:  # "5m" is minutes or metres; only "$5m" is millions
            glued = True
        if before and before in "-−+" and not masked[s - 2:s - 1].isalnum():  # a sign, not a hyphen
            s -= 1
        digits = num.replace(",", "")
        decimals = len(digits.partition(".")[2])
        sign = -1.0 if text[s] in "-−" else 1.0
        if glued:  # an identifier: its digits are checked as written, or the whole token as a label
            ls, le = m.start("num"), m.end("num")
            while ls > 0 and (text[ls - 1].isalnum() or text[ls - 1] == "_"):
                ls -= 1
            while le < len(text) and (text[le].isalnum() or text[le] == "_"):
                le += 1
            out.append(_Token(ls, text[ls:le], float(digits), 0.5 * 10.0 ** -decimals, "plain",
                              decimals == 0, False, text[ls:le].lower()))
            continue
        mult = _MULT.get((suf or word).lower(), 1.0) if (suf or word) else 1.0
        half = 0.5 * 10.0 ** -decimals * mult
        kind = "pct" if m["pct"] else "times" if m["times"] else "plain"
        zeros = len(digits) - len(digits.rstrip("0"))
        if not decimals and zeros >= 2 and kind == "plain" and _HEDGE.search(text[max(0, s - 16):s]):
            half = 0.5 * 10.0 ** zeros * mult  # "about 1,200" claims only the hundreds
        plain_int = decimals == 0 and not (m["cur"] or suf or word or m["pct"] or m["times"])
        out.append(_Token(s, text[s:e].strip(), sign * float(digits) * mult, half, kind, plain_int,
                          bool(m["ord"] or _RANK.search(text[max(0, s - 16):s])),
                          (num + suf).lower() if suf else None))  # "6B" may be a gate, not 6 billion
    return out


def _floats(values) -> list[float]:
    """Finite numbers of a column; JSON-decoded rows may carry them as strings or Decimals."""
    try:
        out = [float(v) for v in values if v is not None]  # typed numeric columns hold no booleans
    except (TypeError, ValueError):
        out = []
        for v in values:
            try:
                out.append(float(str(v).replace(",", "")) if isinstance(v, str) else float(v))
            except (TypeError, ValueError):
                continue
    return [x for x in out if x - x == 0]  # drops NaN and infinities


def _near(sorted_values: list[float], x: float, tol: float) -> bool:
    i = bisect_left(sorted_values, x - tol)
    return i < len(sorted_values) and sorted_values[i] <= x + tol


def _pairs(pv: list[float], dup: bool, bases: list[float], lo_f, hi_f) -> bool:
    """Some b of bases has a partner a in pv within [lo_f(b), hi_f(b)], a being another value than b
    itself unless the column repeats a value (then a zero difference or a 1x ratio is real)."""
    for b in bases:
        lo, hi = bisect_left(pv, lo_f(b)), bisect_right(pv, hi_f(b))
        if hi - lo > 1 or (hi - lo == 1 and (pv[lo] != b or dup)):
            return True
    return False


def _difference(pv: list[float], dup: bool, d: float, tol: float) -> bool:
    bases = pv[:bisect_right(pv, pv[-1] - d + tol)]  # b + d must stay within the column's range
    # Past float resolution b + d == b, and every small d would pass as a "zero difference" of huge cells.
    bases = [b for b in bases if abs(b) * 1e-12 <= d + tol]
    return _pairs(pv, dup, bases, lambda b: b + d - tol, lambda b: b + d + tol)


def _ratio(pv: list[float], dup: bool, r: float, tol: float) -> bool:
    # a / b = r within tol; b runs over every value, so "relative to either" cell is covered.
    lo_r, hi_r = r - tol, r + tol
    if lo_r <= 0:
        bases = [b for b in pv if b]
    else:  # a = b * r lies within pv's range, which bounds b on both sides of zero
        bases = pv[bisect_left(pv, min(pv[0] / lo_r, 0)):bisect_right(pv, max(pv[-1] / lo_r, 0))]
        bases = [b for b in bases if b]
    return _pairs(pv, dup, bases, lambda b: b * (lo_r if b > 0 else hi_r), lambda b: b * (hi_r if b > 0 else lo_r))


class _Facts:
    """What a number may be matched against, built once per check in O(rows x columns)."""

    def __init__(self, columns: list[str], types: list[str], rows: list[list], row_count: int, complete: bool,
                 question: str = "", stats: dict | None = None):
        width, n = len(columns), len(rows)
        row_count = int(row_count or 0)
        complete = complete and row_count <= n  # a total over some rows is not the result's total
        self.rank_max = max(row_count, n)
        whole = {m.get("index"): m for m in (stats or {}).get("measures", [])}
        if rows and min(map(len, rows)) >= width:
            cols = list(zip(*rows, strict=False))[:width]
        else:
            cols = [[r[i] if i < len(r) else None for r in rows] for i in range(width)]
        self.cells: list[list[float]] = []  # per numeric column, sorted (and |v| of negative cells)
        self.pairs: list[tuple[list[float], bool]] = []  # capped distinct values, column repeats a value
        self.shares: list[tuple[list[float], float, float]] = []  # sorted cells, total, max
        self.pct: list[tuple[float, str]] = []  # whole-result percentages: top groups' shares, first-to-last change
        facts: list[tuple[float, str]] = []
        # The number of rows shown is a count of the result only when they are all of it ("over 1,000 days"
        # of a 1,095-day result is wrong).
        counts = {row_count, width} | ({n} if n >= row_count else set())
        # The user's own numbers ("top 5", "client 3", "in 2023") may be echoed: they read like labels.
        texts, dates = [" ".join(map(str, columns)), question], []
        for index, (typ, col) in enumerate(zip(types, cols, strict=False)):
            if typ in ("date", "datetime", "string"):
                uniq = {str(v) for v in col if v is not None}
                (dates if typ != "string" else texts).append("\n".join(uniq))
                if complete:
                    counts.add(len(uniq))
                continue
            if typ == "boolean":
                continue
            if typ not in ("integer", "float", "decimal"):  # "other": numbers count as cells, anything else as text
                texts.append("\n".join(str(v) for v in col if v is not None and isinstance(v, (str, list, dict))))
                col = [v for v in col if not isinstance(v, (str, list, dict, bool))]
            measure = whole.get(index)
            # Cells of the whole result beyond the rows given: its extremes, largest groups, first and last.
            extra = _floats(_whole_cells(measure)) if measure else []
            s = sorted(_floats(col) + extra)
            if not s:
                continue
            self.cells.append(s)
            if s[0] < 0:
                self.cells.append([-v for v in reversed(s) if v < 0])
            pv = sorted(set(_floats(col[:PAIR_ROWS]) + _floats(col[-1:]) + s[:PAIR_EXTREMES] + s[-PAIR_EXTREMES:]
                            + extra))
            self.pairs.append((pv, len(set(s)) < len(s)))
            if measure:  # aggregates the engine computed over every row of the result
                facts += [(float(v), b) for b, v in ((b, measure.get(b)) for b in ("total", "mean", "median"))
                          if v is not None]
                if measure.get("change") is not None:
                    facts.append((abs(float(measure["change"])), "difference"))
                counts.add(int(measure.get("non_null") or 0))
                self.pct += [(float(g["share_pct"]), "share") for g in measure.get("top", []) if "share_pct" in g]
                if measure.get("change_pct") is not None:
                    self.pct.append((abs(float(measure["change_pct"])), "change"))
                if measure.get("total") is not None and measure.get("max") is not None:
                    self.shares.append((s, float(measure["total"]), float(measure["max"])))
            elif complete:
                total, mid = math.fsum(s), len(s) // 2
                median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
                facts += [(total, "total"), (total / len(s), "mean"), (median, "median")]  # min, max: cells
                counts.add(len(s))
                self.shares.append((s, total, s[-1]))
        if stats:
            counts.add(int(stats.get("row_count") or 0))
            counts |= {int(d.get("distinct") or 0) for d in stats.get("dimensions", [])}
            self.rank_max = max(self.rank_max, int(stats.get("row_count") or 0))
            for label in _whole_labels(stats):
                (dates if _ISO_DATE.match(label) else texts).append(label)
        facts.sort()
        self.stat_values, self.stat_bases = [v for v, _ in facts], [b for _, b in facts]
        self.pct.sort()
        self.counts = sorted(float(c) for c in counts)
        text, date_text = "\n".join(texts), "\n".join(dates)
        self.labels = sorted(float(t.replace(",", "")) for t in set(_LABEL_NUM.findall(text)))
        self.tokens = {t.lower() for t in set(_LABEL_TOKEN.findall(text))}
        parts = {int(t) for t in set(re.findall(r"\d+", date_text))}
        self.dates = sorted(map(float, parts))
        self.years = {int(y) for y in _YEAR.findall(text)} | {p for p in parts if 1900 <= p <= 2100}

    def basis(self, t: _Token) -> str | None:
        x, tol = t.value, t.half * (1 + 1e-9) + 1e-9 * abs(t.value)  # rounding, plus float noise
        if t.label and t.label in self.tokens:
            return "label"
        if t.integer and "," not in t.text and 1900 <= x <= 2100 and int(x) in self.years:
            return "year"  # a year the table's dates or labels mention, never a measure
        if t.kind == "times" and any(_ratio(pv, dup, abs(x), tol) for pv, dup in self.pairs):
            return "ratio"
        if any(_near(s, x, tol) for s in self.cells):
            return "cell"
        if t.kind == "pct":
            i = bisect_left(self.pct, (x - tol,))
            if i < len(self.pct) and self.pct[i][0] <= x + tol:
                return self.pct[i][1]  # a share or a change the engine computed over the whole result
        i = bisect_left(self.stat_values, x - tol)
        if i < len(self.stat_values) and self.stat_values[i] <= x + tol:
            return self.stat_bases[i]
        if _near(self.labels, x, tol):
            return "label"
        if t.kind == "plain" and _near(self.dates, x, tol):
            return "date"
        if t.integer and _near(self.counts, x, tol):
            return "count"
        if t.integer and 1 <= x <= (self.rank_max if t.rank_word else min(self.rank_max, FREE_RANK)):
            return "rank"
        if t.kind == "pct":
            for s, total, top in self.shares:
                if any(ref and _near(s, x * ref / 100, tol * abs(ref) / 100) for ref in (total, top)):
                    return "share"  # of the column's total, or of its maximum
            if any(_near(s, x / 100, tol / 100) for s in self.cells):
                return "cell"  # a fraction column (0.123) written as a percent (12.3%)
            if any(_ratio(pv, dup, 1 + sign * abs(x) / 100, tol / 100) for pv, dup in self.pairs for sign in (1, -1)):
                return "change"
        # A difference of two cells; for a percent this is a gap in percentage points ("2.3x" is never one).
        if t.kind != "times" and any(_difference(pv, dup, abs(x), tol) for pv, dup in self.pairs):
            return "difference"
        return None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _whole_cells(measure: dict) -> list:
    """Values of real rows of the whole result that the statistics name (``sql/stats.py``)."""
    out = [measure.get("min"), measure.get("max")]
    out += [g.get("value") for g in measure.get("top", [])]
    out += [(measure.get(end) or {}).get("value") for end in ("first", "last")]
    return [v for v in out if v is not None]


def _whole_labels(stats: dict) -> list[str]:
    """The labels of the rows the statistics name: where the extremes are, the largest groups, first and last."""
    out = []
    for m in stats.get("measures", []):
        out += [m.get("max_at"), m.get("min_at"), *(g.get("label") for g in m.get("top", []))]
        out += [(m.get(end) or {}).get("at") for end in ("first", "last")]
    return [str(v) for v in out if v is not None]


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if m.group()[0] in ".!?" and _ABBREV.search(text[start:m.start()]):
            continue  # "e.g. 5", "vs. B6", "U.S. sales" do not end a sentence
        spans.append((start, m.end()))
        start = m.end()
    return [*spans, (start, len(text))] if start < len(text) else spans


def _prune(summary: str, bad: list[int]) -> str:
    """Drop every sentence holding an unsupported number; a sentence is one claim built on its numbers,
    so masking the number alone ("[unverified]") would leave a claim that reads as checked, and reads
    badly. If nothing would remain, the summary stays as written with NOTE, since an empty answer
    helps nobody and ``verified`` already says it is unchecked."""
    if not bad:
        return summary
    kept = "".join(summary[a:b] for a, b in _sentences(summary) if not any(a <= p < b for p in bad)).strip()
    return kept if kept else summary.rstrip() + NOTE


def check_grounding(summary: str, insights: list[str], columns: list[str], column_types: list[str],
                    rows: list[list], row_count: int, *, complete: bool = True, question: str = "",
                    stats: dict | None = None) -> GroundingResult:
    """Check every number of the analyzer's prose against the result table (see the module doc).

    ``rows`` may be only the first rows of the result when ``complete`` is False; column totals, means,
    medians, counts and shares of those rows are then not trusted, only cells and derivations between
    cells. ``stats`` (``sql/stats.py``'s ``read_stats``) are aggregates the engine computed over the whole
    result: with them its totals, means, medians, extremes, largest groups' shares, first-to-last changes
    and distinct counts are trusted whatever was given of the rows.
    """
    texts = [summary or "", *(str(i) for i in insights or [])]
    found = [_tokens(t) for t in texts]
    facts = _Facts(list(columns), list(column_types), rows or [], row_count, complete, question, stats) \
        if any(found) else None
    checks, bad = [], []
    for toks in found:
        bad.append([])
        for t in toks:
            basis = facts.basis(t) if facts else None
            checks.append(NumberCheck(t.text, t.value, basis is not None, basis, t.kind == "pct"))
            if basis is None:
                bad[-1].append(t.start)
    unsupported = [c.text for c in checks if not c.supported]
    return GroundingResult(verified=not unsupported, summary=_prune(texts[0], bad[0]),
                           insights=[t for t, b in zip(texts[1:], bad[1:], strict=True) if not b],
                           checks=checks, unsupported=unsupported)
