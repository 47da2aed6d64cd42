"""Question parsing for the offline planner (no LLM).

Turns a plain-language business question plus dataset profiles into a small structured ``Query``:
which table, which aggregate over which measure, grouped by what, filtered how, ranked how.
Everything is deterministic word matching against column names, labels and profiled top values.
When the question asks for something this cannot express faithfully (a condition, a relative date,
a join, "why"), ``parse`` returns None so the caller can answer honestly instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

NUMERIC = {"integer", "float", "decimal"}
TEMPORAL = {"date", "datetime"}

# Grammar and filler words: never column evidence, and a profiled value equal to one of these
# (carrier "US", "AS") only counts as a filter when written in the data's exact case.
STOPWORDS = set(
    "a an the of in on at to for from by per with and or is are was were be been being what which who "
    "whom whose how me my we our us i you your it its this that these those there their they them show "
    "give tell get find display please can could would do does did has have had all each every any some "
    "s t as than then so up out about into across during value values data dataset table much many "
    "where when list see want know let made make sold got overall across most least top bottom vs "
    "versus compare comparison group grouped broken down split sorted sort ordered first only "
    "just also one no yes hi hello hey thanks thank ok okay".split()
)

# Abbreviations and synonyms: a column token on the left also answers to the words on the right.
EXPANSIONS = {
    "dep": {"departure", "depart", "departing", "departed"}, "arr": {"arrival", "arrive", "arriving"},
    "dest": {"destination"}, "orig": {"origin"}, "qty": {"quantity"}, "amt": {"amount"}, "num": {"number"},
    "pct": {"percent", "percentage"}, "dist": {"distance"}, "temp": {"temperature"}, "cust": {"customer"},
    "prod": {"product"}, "cat": {"category"}, "dept": {"department"}, "emp": {"employee"},
    "rev": {"revenue"}, "yr": {"year"}, "dt": {"date"}, "carrier": {"airline"},
    "revenue": {"sale", "income", "turnover", "earning"}, "distance": {"mile", "mileage"},
    "delay": {"late", "lateness"}, "customer": {"client"}, "product": {"item"},
    "min": {"minimum", "lowest"}, "max": {"maximum", "highest"}, "exp": {"expectancy"}, "pop": {"population"},
    "percap": {"capita"}, "lbs": {"pound"}, "lb": {"pound"}, "mpg": {"mile", "gallon"},
}  # fmt: skip
# Unit suffixes (body_mass_g, weight_in_lbs) and modifiers (temp_max) are never a column's head noun: "body mass"
# names body_mass_g, "temperature" is temp_max or temp_min.
UNIT_SUFFIXES = {"mm", "cm", "km", "m", "g", "kg", "lb", "lbs", "oz", "usd", "eur", "gbp", "pct", "sec", "ms", "hrs",
                 "min", "max", "avg", "mean", "total", "sum"}
# Words that name a derived quantity (a ratio, a change, a running total) no single aggregate computes: unless a
# column is called that, the question is beyond the planner.
DERIVED = {"ratio", "fraction", "percent", "rate", "growth", "grew", "grow", "change", "changed", "difference",
           "increase", "increased", "decrease", "decreased", "cumulative", "running", "return", "returns",
           "correlation", "correlated", "relationship", "variance", "deviation", "stddev", "percentile",
           "drop", "dropped", "rise", "rose", "fell", "improve", "improved", "declined", "decline"}

UNIT_WORDS = {
    "hour": "hour", "hourly": "hour", "day": "day", "daily": "day", "date": "day",
    "week": "week", "weekly": "week", "month": "month", "monthly": "month",
    "quarter": "quarter", "quarterly": "quarter", "year": "year", "yearly": "year",
    "annual": "year", "annually": "year",
}  # fmt: skip
_ADVERB_UNITS = {"hourly", "daily", "weekly", "monthly", "quarterly", "yearly", "annual", "annually"}
_BUCKET_TRIGGERS = {"by", "per", "each", "every", "a", "which", "what", "over"}
_GROUP_TRIGGERS = {"by", "per", "each", "every", "across", "which", "what"}
_SKIP_IN_PHRASE = {"the", "a", "an", "each", "every", "different", "individual", "of"}

AGG_WORDS = {
    "total": "sum", "sum": "sum", "combined": "sum", "aggregate": "sum",
    "average": "avg", "avg": "avg", "mean": "avg", "typical": "avg", "median": "median",
    "maximum": "max", "max": "max", "peak": "max", "minimum": "min", "min": "min",
    "earliest": "min", "latest": "max", "recent": "max",
}  # fmt: skip
DESC_WORDS = {"top", "most", "highest", "largest", "biggest", "greatest", "busiest", "best", "longest",
              "popular", "common", "frequent", "leading", "heaviest"}
ASC_WORDS = {"bottom", "least", "lowest", "smallest", "fewest", "shortest", "quietest", "rarest", "lightest"}
COUNTISH = {"busiest", "busy", "popular", "common", "frequent", "fewest", "quietest", "rarest"}
SHARE_WORDS = {"share", "shares", "proportion", "proportions", "percentage", "percentages", "breakdown",
               "distribution", "split", "pie", "mix"}
DISTINCT_WORDS = {"different", "distinct", "unique"}
NUMBER_WORDS = {w: i + 1 for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
# Measures where a sum is meaningless, so "which X has the highest delay" ranks by the average.
NON_ADDITIVE = {"delay", "rate", "ratio", "price", "pct", "percent", "percentage", "score", "age",
                "temperature", "temp", "avg", "average", "mean", "margin", "rating", "speed", "lat", "lon",
                # attributes of one thing (a penguin's mass, a car's horsepower, a country's life expectancy):
                # their sum over a group means nothing, their average does
                "mass", "weight", "length", "depth", "width", "height", "size", "horsepower", "acceleration",
                "gallon", "mpg", "capita", "percap", "expectancy", "exp", "wind", "displacement", "humidity",
                "pressure", "latitude", "longitude", "elevation", "altitude", "density", "bmi", "grade"}
MONTH_NAMES = {"january", "february", "march", "april", "june", "july", "august", "september",
               "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
               "sep", "sept", "oct", "nov", "dec"}

# Things a single aggregate query cannot answer honestly: causes, predictions, joins, conditions
# on numbers, negations and relative dates.
_BEYOND = re.compile(
    r"\b(why|predict\w*|forecast\w*|project(ion|ed)|will\s+be|what\s+if|correlat\w*|caus\w*|should|"
    r"recommend\w*|join\w*|merge\w*|combine\s+(the\s+)?(tables|datasets)|"
    # Which way is "best" depends on what the measure means (a lower dose, a higher yield): a judgement.
    r"(best|worst)(?![\s-]+sell\w*)|better|worse|"
    r"(more|less|greater|fewer|larger|smaller|higher|lower|other|\w{2,}er)\s+than|as\s+(?!well\b)\w+\s+as|"
    r"at\s+(least|most)\s+-?\d+|"
    r"(above|below|over|under|exceed\w*|between)\s+(the\s+)?(-?\d+|average|mean|median)|not|except|excluding|"
    r"exclude|without|day\s+of\s+(the\s+)?week|weekdays?|weekends?|hour\s+of\s+(the\s+)?day|per\s+capita\s+growth|"
    r"(last|past|previous|this|next|current)\s+(\d+\s+)?(hours?|days?|weeks?|months?|quarters?|years?)|"
    r"yesterday|today|tomorrow|ytd|since|before|after|until|whose|who\s+have|that\s+have|which\s+have|"
    r"(are|is|were|was)\s+(late|delayed|early|female|male|missing|empty|null))\b|[<>=]",
    re.I,
)
_WORD = re.compile(r"[A-Za-z0-9]+")


def singular(word: str) -> str:
    """Cheap English singular: enough to make "carriers", "categories", "delays" meet their columns."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def stems(word: str) -> set:
    """The word's singular plus a crude -ed/-ing stem, so "delayed" still points at a delay column."""
    out = {singular(word)}
    if len(word) > 5 and word.endswith("ed"):
        out.add(word[:-2])
    if len(word) > 6 and word.endswith("ing"):
        out.add(word[:-3])
    return out


def snake(name: str) -> str:
    """Result aliases must be simple snake_case whatever the source column is called."""
    out = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "value"
    return "c_" + out if out[0].isdigit() else out


@dataclass
class Col:
    name: str
    dtype: str
    label: str
    words: frozenset  # singular name/label tokens plus their abbreviation/synonym expansions
    ntok: int  # tokens in the name itself, to prefer the column a phrase covers most completely
    head: frozenset  # the name's head noun (delay in dep_delay, customer in customer_id) and its synonyms
    nulls: int
    distinct: int
    top: list  # [(value, count)] most frequent string values
    lo: object
    hi: object
    ident: bool = False  # an identifier (customer_id, a flights table's flight number): counted, never summed

    @property
    def numeric(self) -> bool:
        return self.dtype in NUMERIC

    @property
    def calendar(self) -> bool:
        return self.dtype == "integer" and snake(self.name) in UNIT_WORDS

    @property
    def groupable(self) -> bool:
        # Integer columns double as categories only when they look like codes or calendar parts
        # (nycflights' month/day); wide ones such as distance are measures.
        if self.dtype in ("string", "boolean") or self.ident:
            return True
        return self.dtype == "integer" and (self.distinct <= 50 or snake(self.name) in UNIT_WORDS)


@dataclass
class Query:
    table: str
    columns: list
    agg: str | None = None  # sum|avg|min|max|median|count|distinct|rows
    measures: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    bucket: tuple | None = None  # (temporal Col, unit)
    filters: list = field(default_factory=list)  # [(Col, [values])], values str or int
    year: tuple | None = None  # (Col, year)
    order: str | None = None  # "desc" | "asc"
    limit: int | None = None
    share: bool = False
    count_noun: str | None = None
    join: tuple | None = None  # (lookup table, key column): FROM table JOIN lookup USING (key)
    doubt: str | None = None  # why this reading may be wrong (an ambiguous column, an unknown modifier): refuse


# Tokens too generic to identify a column on their own: "on time" must not pick air_time.
_GENERIC = {"time", "date", "hour", "day", "week", "month", "year", "id", "code", "name", "key", "no", "num",
            "number", "type"}


def tokens(name: str) -> list:
    """A name's words: snake_case, spaces and camelCase (lifeExp, gdpPercap) all split."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name)).replace("_", " ")
    return [singular(t) for t in _WORD.findall(spaced.lower())]


def name_words(name: str) -> set:
    return set(tokens(name))


_ID_TAILS = {"id", "code", "key", "no", "number", "num", "nr", "zip", "phone"}


def id_like(c: Col, table: str) -> bool:
    """An identifier, whatever its type: a name ending in id/code/number (customer_id, zip), or an integer named
    after the table's own rows (``flight`` in ``flights``: a flight number). Its sum or average means nothing."""
    if c.dtype not in ("integer", "string"):
        return False
    toks = tokens(c.name)
    if toks and toks[-1] in _ID_TAILS:
        return True
    return c.dtype == "integer" and snake(c.name) not in UNIT_WORDS and bool(set(toks) & name_words(table))


def make_cols(ds: dict) -> list:
    cols = [make_col(c) for c in ds.get("columns") or []]
    for c in cols:
        c.ident = id_like(c, ds.get("name") or "")
    return cols


def make_col(c: dict) -> Col:
    label = c.get("label") or ""
    # The label keeps the header's case (lifeExp), which the name lost (lifeexp): its words are the better split.
    same = bool(label) and snake(label).replace("_", "") == snake(c["name"]).replace("_", "")
    ordered = tokens(label) if same else tokens(c["name"])
    meaningful = [t for t in ordered if t not in UNIT_SUFFIXES and t not in STOPWORDS] or ordered
    own = set(meaningful)
    toks = set(ordered) | name_words(c["name"]) | name_words(label)
    head = next((t for t in reversed(meaningful) if t not in _GENERIC), None)
    heads = {head} | EXPANSIONS.get(head, set()) if head else set()
    words = toks.union(*(EXPANSIONS.get(t, set()) for t in toks))
    top = [(str(v["value"]), v.get("count") or 0) for v in c.get("top_values") or []
           if isinstance(v, dict) and v.get("value") is not None]
    nulls = c.get("nulls")  # unknown null counts are treated as "may have nulls"
    return Col(c["name"], c.get("dtype", "other"), c.get("label") or c["name"], frozenset(words), len(own),
               frozenset(heads), 1 if nulls is None else nulls, c.get("distinct") or 0, top,
               c.get("min"), c.get("max"))


class _Words:
    """The question's words with a 'used' mark, so each phrase feeds exactly one part of the query."""

    def __init__(self, text: str):
        self.text = text
        self.spans = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
        self.w = [s[0] for s in self.spans]
        self.used = [False] * len(self.w)

    def free(self, i: int) -> bool:
        return 0 <= i < len(self.w) and not self.used[i]

    def mark(self, *idx: int) -> None:
        for i in idx:
            if 0 <= i < len(self.w):
                self.used[i] = True

    def next_content(self, i: int) -> int:
        """Index of the first free word at or after i that is not an article or similar filler."""
        while self.free(i) and self.w[i] in _SKIP_IN_PHRASE:
            i += 1
        return i


_BRIDGES = {"per", "of", "in"}


def _run(ws: _Words, j: int, col: Col) -> int:
    """How many consecutive free words starting at j name this column."""
    n = 0
    while ws.free(j + n) and ws.w[j + n] not in STOPWORDS and stems(ws.w[j + n]) & col.words:
        n += 1
        # "miles per gallon", "weight in lbs": a short word between two words of the same column stays in it.
        if ws.free(j + n) and ws.w[j + n] in _BRIDGES and ws.free(j + n + 1) and \
                ws.w[j + n + 1] not in STOPWORDS and stems(ws.w[j + n + 1]) & col.words:
            n += 1
    # Naming only part of a column counts when that part is its head noun: "delay" is dep_delay,
    # but "departure" alone or "time" alone (air_time) is not.
    named = sum(1 for w in ws.w[j:j + n] if w not in STOPWORDS)
    if 0 < named < col.ntok and not any(stems(w) & col.head for w in ws.w[j:j + n]):
        return 0
    return n


def _best_at(ws: _Words, j: int, cols: list) -> tuple:
    """The column best named by the phrase at j: longest run, then fewest unmatched tokens, then first."""
    best, best_key = None, (0, 0.0)
    for c in cols:
        n = _run(ws, j, c)
        key = (n, n / max(1, c.ntok))
        if n and key > best_key:
            best, best_key = c, key
    return best, best_key[0]


def _tied(ws: _Words, j: int, n: int, cols: list, chosen: Col) -> bool:
    """Another column is named exactly as well by the phrase at j ("delay": dep_delay or arr_delay?)."""
    key = (n, n / max(1, chosen.ntok))
    return any(c is not chosen and _run(ws, j, c) == n and (n, n / max(1, c.ntok)) == key for c in cols)


def _best_anywhere(ws: _Words, cols: list) -> tuple:
    best, best_n, best_j = None, 0, -1
    for j in range(len(ws.w)):
        c, n = _best_at(ws, j, cols)
        if c is not None and n > best_n:
            best, best_n, best_j = c, n, j
    return best, best_n, best_j


def _content_words(text: str) -> set:
    # Time phrases ("over time", "monthly") name no table: every dated table can answer them.
    skip = STOPWORDS | set(AGG_WORDS) | DESC_WORDS | ASC_WORDS | SHARE_WORDS | DISTINCT_WORDS
    skip |= set(UNIT_WORDS) | {"time", "times", "trend", "trends", "timeline", "over", "count", "number"}
    return {singular(w) for w in _WORD.findall(text.lower()) if w not in skip}


def _explained(words: set, ds: dict, text: str) -> set:
    """The question words a dataset accounts for: its name, its columns, its profiled values."""
    cols = [make_col(c) for c in ds.get("columns") or []]
    table = name_words(ds["name"])
    out = {w for w in words if w in table or any(w in c.words for c in cols)}
    for c in cols:
        for v, _ in c.top:
            if re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w)", text, re.I):
                out |= {singular(t) for t in _WORD.findall(v.lower())} & words
    return out


def pick_table(text: str, datasets: list) -> dict | None:
    """The dataset explaining most question words; None when another table is needed too (a join)."""
    if not datasets:
        return None
    if len(datasets) == 1:
        return datasets[0]
    words = {w for w in _content_words(text) if not w.isdigit()}
    scored = []
    for ds in datasets:
        exp = _explained(words, ds, text)
        scored.append((len(exp) + 0.5 * bool(name_words(ds["name"]) & words), exp, ds))
    best = max(scored, key=lambda s: s[0])  # max keeps the first of equal scores
    others = set().union(*(s[1] for s in scored if s[2] is not best[2]))
    return None if others - best[1] else best[2]


def _filters(ws: _Words, cols: list) -> list:
    """Equality filters for profiled values named in the question, longest match first."""
    hits = []
    for ci, c in enumerate(cols):
        if c.dtype != "string":
            continue
        for v, count in c.top:
            if not v.strip() or re.fullmatch(r"[\d.,\s-]+", v) or v.endswith("\u2026"):
                continue  # bare numbers are more often "top 5" or a year; "…" marks a cut-off profile value
            flags = 0 if v.lower() in STOPWORDS else re.I
            for m in re.finditer(r"(?<!\w)" + re.escape(v) + r"(?!\w)", ws.text, flags):
                hits.append((m.start(), m.end(), ci, v, count))
    chosen: dict = {}
    taken: list = []
    for start, end, _, v, _ in sorted(hits, key=lambda h: (h[0] - h[1], h[0])):
        if any(start < e and s < end for s, e in taken):
            continue
        taken.append((start, end))
        same = [h for h in hits if (h[0], h[1]) == (start, end)]
        ci = _which_column(ws, start, same, cols)
        chosen.setdefault(ci, []).append(v)
        ws.mark(*(i for i, (_, s, e) in enumerate(ws.spans) if s < end and start < e))
    low = ws.text.lower()
    return [(cols[ci], sorted(vals, key=lambda x: low.find(x.lower()))) for ci, vals in chosen.items()]


def _which_column(ws: _Words, start: int, same: list, cols: list) -> int:
    """A value present in several columns (JFK as origin and dest): prefer the column the question
    names, then the one its preposition implies ("from" origin, "to" destination), then the commoner."""
    before = ws.text[:start].lower().split()
    prep = before[-1] if before else ""
    hints = {"from": {"origin", "from", "source", "departure", "start"},
             "to": {"destination", "to", "target"}}

    def key(h):
        c = cols[h[2]]
        named = any(singular(w) in c.words and w not in STOPWORDS for w in ws.w)
        return (named, bool(hints.get(prep, set()) & c.words), h[4])

    return max(same, key=key)[2]


def _bucket(ws: _Words, rank_idx: set) -> tuple | None:
    """Find a time grouping phrase: (unit or "auto", how it was asked, whether the unit word is plural)."""
    w = ws.w
    for i, word in enumerate(w):
        if not ws.free(i):
            continue
        if word in _ADVERB_UNITS:
            ws.mark(i)
            return UNIT_WORDS[word], "by", False
        if word in ("trend", "trends", "timeline"):
            ws.mark(i)
            return "auto", "by", False
        if word == "over" and ws.free(i + 1) and w[i + 1] == "time":
            ws.mark(i, i + 1)
            return "auto", "by", False
        j = ws.next_content(i + 1)
        nxt = w[j] if ws.free(j) else ""
        if singular(nxt) not in UNIT_WORDS or nxt in _ADVERB_UNITS:
            continue
        unit, plural = UNIT_WORDS[singular(nxt)], nxt != singular(nxt)
        if word in _BUCKET_TRIGGERS:
            ws.mark(i, j)
            return unit, "which" if word in ("which", "what") else "by", plural
        if i in rank_idx:  # "busiest day", "top 3 months"
            ws.mark(j)
            return unit, "mention", plural
    return None


def _auto_unit(col: Col) -> str:
    """Pick a readable granularity from the profiled date span."""
    try:
        span = (date.fromisoformat(str(col.hi)[:10]) - date.fromisoformat(str(col.lo)[:10])).days
    except ValueError:
        return "month"
    return "year" if span > 3 * 366 else "month" if span > 120 else "week" if span > 31 else "day"


def _apply_bucket(ws: _Words, q: Query, cols: list, unit: str) -> bool:
    temporal = [c for c in cols if c.dtype in TEMPORAL]
    if temporal:
        named = [c for c in temporal if any(singular(x) in c.words - {"date", "time"} for x in ws.w)]
        col = (named or temporal)[0]
        q.bucket = (col, _auto_unit(col) if unit == "auto" else unit)
        return True
    # No date column: a calendar-part integer column (nycflights' month) is the next best thing.
    want = ("year", "quarter", "month", "week", "day") if unit == "auto" else (unit,)
    part = next((c for u in want for c in cols if c.calendar and snake(c.name) == u), None)
    if part is None:
        return False
    q.groups.append(part)
    return True


def _numbers(ws: _Words, q: Query, cols: list) -> list | None:
    """Classify free numbers: `<int column> <n>` filters, years, and the N of top-N. Others -> None."""
    ns = []
    for i, word in enumerate(ws.w):
        if not ws.free(i) or not (word.isdigit() or word in NUMBER_WORDS):
            continue
        n = int(word) if word.isdigit() else NUMBER_WORDS[word]
        before = singular(ws.w[i - 1]) if i and ws.free(i - 1) else ""
        prev = next((c for c in cols if c.dtype == "integer" and before in c.words), None)
        if word.isdigit() and prev is not None:
            q.filters.append((prev, [n]))
            ws.mark(i - 1, i)
        elif word.isdigit() and len(word) == 4 and 1900 <= n <= 2100:
            col = next((c for c in cols if c.dtype == "integer" and snake(c.name) == "year"), None)
            col = col or next((c for c in cols if c.dtype in TEMPORAL), None)
            if col is None:
                return None
            q.year = (col, n)
            ws.mark(i)
        elif (word in NUMBER_WORDS and word != "one") or word.isdigit():
            ns.append(n)
            ws.mark(i)
    return ns


def _noun_after(ws: _Words, i: int) -> int:
    """Index of the counted noun in "how many [different] carriers" (skips already-used fillers)."""
    while i < len(ws.w) and (ws.w[i] in _SKIP_IN_PHRASE or ws.w[i] in DISTINCT_WORDS):
        i += 1
    return i


def _groups_from_triggers(ws: _Words, q: Query, cols: list, state: dict) -> None:
    """ "by X", "per X", "for each X", "which X": X is a grouping, or a ranking measure ("by total
    distance")."""
    w = ws.w
    for i, x in enumerate(w):
        if not ws.free(i) or x not in _GROUP_TRIGGERS:
            continue
        j = ws.next_content(i + 1)
        k = j
        while ws.free(k) and (w[k] in AGG_WORDS or w[k] in _SKIP_IN_PHRASE):
            k += 1
        if k == j and ws.free(k + 1) and (w[k], w[k + 1]) == ("number", "of"):
            grouped_by = _best_at(ws, k + 2, cols)[0]
            if grouped_by is not None and grouped_by.groupable and not grouped_by.ident:
                ws.mark(k, k + 1)  # "by number of cylinders" groups by cylinders; it counts nothing
                j = k = k + 2
        col, n = _best_at(ws, k, cols)
        if col is None:
            by_rows = x == "by" and singular(ws.w[k]) in name_words(q.table)  # "top 5 origins by flights"
            if x in ("by", "per", "each", "every") and ws.free(k) and not ws.w[k].isdigit() \
                    and ws.w[k] not in _RANK_BY and not by_rows:
                state["unknown_by"] = ws.w[k]  # "top 3 carriers by on-time percentage": by what we cannot tell
            elif x == "which" and k == j and _unknown_subject(ws, q, k):
                state["unknown_by"] = ws.w[k]  # "which plane flew the most": no column names planes
            continue
        phrase = range(k, k + n)
        last = w[k + n - 1]
        if col.dtype in TEMPORAL:
            # "by order date" groups by the day, but "per order" (half of order_date) is no time grouping.
            if q.bucket or not {"date", "day", "time"} & {singular(w[p]) for p in phrase}:
                continue
            q.bucket = (col, "day")
        elif col.groupable and k == j and col not in q.groups and not _ranked_quantity(ws, q, cols, col, k, n):
            q.groups.append(col)
            state.setdefault("group_src", "which" if x in ("which", "what") else "by")
            state.setdefault("plural", last != singular(last))
            a = k + n
            other, m = _best_at(ws, a + 1, cols) if ws.free(a) and w[a] == "and" else (None, 0)
            room = len(q.groups) + bool(q.bucket) < 2
            if other is not None and other.groupable and other not in q.groups and room:
                q.groups.append(other)  # "by origin and carrier"
                ws.mark(*range(a, a + 1 + m))
        elif col.numeric and not col.ident:
            if _tied(ws, k, n, cols, col):
                q.doubt = f"{' '.join(w[k:k + n])!r} could be more than one column"
            q.measures.append(col)
        else:
            continue
        ws.mark(i, *range(j, k), *phrase)


def _unknown_subject(ws: _Words, q: Query, k: int) -> bool:
    """Whether the noun after "which" names something the table has no column for (its rows and time units
    aside): ranking some other grouping instead would answer a question nobody asked."""
    if not ws.free(k) or not ws.w[k].isalpha() or ws.w[k] in STOPWORDS or ws.w[k] in ("one", "ones"):
        return False
    word = singular(ws.w[k])
    return word not in name_words(q.table) and word not in UNIT_WORDS and ws.w[k] not in _ROW_NOUNS \
        and not any(word in c.words for c in q.columns)


_RANK_BY = {"number", "count", "counts", "frequency", "volume", "popularity", "rows", "records"}
_ROW_NOUNS = {"rows", "records", "entries", "observations", "measurements", "readings", "lines"}


def _ranked_quantity(ws: _Words, q: Query, cols: list, col: Col, k: int, n: int) -> bool:
    """ "top 3 products by units": a small integer column after "by" in a ranking is the measure ranked by, not a
    grouping, when the question names a category to rank as well."""
    if not q.order or col.dtype != "integer" or col.ident or col.calendar:
        return False
    saved = list(ws.used)
    ws.mark(*range(k, k + n))
    other = _best_anywhere(ws, [c for c in cols if c.dtype in ("string", "boolean") or c.ident])[0]
    ws.used = saved
    return other is not None


def _count_target(ws: _Words, q: Query, cols: list, j: int) -> None:
    """What "how many <noun>" counts: rows when the noun names the table's rows ("how many flights" in flights,
    even beside a flight-number column), distinct values of a category or identifier, a numeric total, or rows."""
    if ws.free(j) and ws.w[j].isalpha() and (singular(ws.w[j]) in name_words(q.table) or ws.w[j] in ("rows",
                                                                                                     "records")):
        q.count_noun = ws.w[j]
        ws.mark(j)
        return
    col, n = _best_at(ws, j, cols)
    if col is not None and ws.free(j + n) and ws.w[j + n] in _ROW_NOUNS:
        q.count_noun = ws.w[j + n]  # "how many price records": rows, whatever column names them
        ws.mark(*range(j, j + n + 1))
        return
    if col is not None and col.dtype in TEMPORAL and not {"date", "day", "time"} & col.words & {
        singular(x) for x in ws.w[j:j + n]
    }:
        col = None  # "how many orders" counts rows, it is not the distinct values of order_date
    if col is None:
        if ws.free(j) and ws.w[j].isalpha() and ws.w[j] not in STOPWORDS:
            if ws.free(j + 1) and ws.w[j + 1].isalpha() and ws.w[j + 1] not in STOPWORDS:
                q.doubt = f"{ws.w[j]!r} qualifies what is counted in a way the data does not show"  # "sunny days"
            q.count_noun = ws.w[j]
            ws.mark(j)
        return
    if _tied(ws, j, n, cols, col):
        q.doubt = f"{' '.join(ws.w[j:j + n])!r} could be more than one column"
    if col.numeric and not col.calendar and not col.ident:
        q.agg = "sum"  # "how many units" / "how many miles" means the total, not a row count
    else:
        q.agg = "distinct"
    q.measures.insert(0, col)
    ws.mark(*range(j, j + n))


# "How has X changed over time?" asks for X's series over time (its prose states the change from first to last);
# "how much did X change" or a change with no time to follow stays a difference nobody gave a start for.
_HOW_CHANGED = re.compile(
    r"^\s*how\s+(?:has|have|did|does|do)\s+(?P<what>.+?)\s+"
    r"(?:changed?|evolved?|developed?|trended|moved|varied|vary|looked|look)\s+"
    r"(?P<when>over\s+time|over\s+the\s+(?:years|months)|through\s+the\s+years|across\s+the\s+years|"
    r"(?:by|per|each|every|from|over)\s+(?:year|month|week|quarter|day)s?|"
    r"(?:from\s+)?(?P<unit>year|month|week|quarter|day)\s+(?:over|to|by)\s+(?P=unit))\s*[?.!]*\s*$", re.I)


def _as_series(text: str) -> str:
    """ "How has the population of India changed over time?" -> "the population of India over time"."""
    m = _HOW_CHANGED.match(text)
    if m is None:
        return text
    when = m["when"].lower()
    if m["unit"]:
        when = f"by {m['unit'].lower()}"  # "year over year"
    elif not when.startswith(("by", "per", "each", "every")):
        when = "over time"
    return f"{m['what']} {when}"


def parse(question: str, datasets: list) -> Query | None:
    """Structure the question against the best-matching dataset, or None when it is beyond us."""
    text = _as_series((question or "").strip())
    if not text or _BEYOND.search(text) or re.search(r"\bq[1-4]\b|\bh[12]\b", text, re.I):
        return None
    ds = pick_table(text, datasets)
    cols = make_cols(ds or {})
    if not cols:
        return None
    known = set().union(*(c.words for c in cols))
    if any(w in DERIVED and singular(w) not in known for w in _WORD.findall(text.lower())):
        return None  # a ratio, change or running total: no single aggregate answers it
    q = Query(table=ds["name"], columns=cols)
    ws = _Words(text)
    w = ws.w
    q.filters = _filters(ws, cols)
    if any(ws.free(i) and x in MONTH_NAMES for i, x in enumerate(w)):
        return None  # a month-name filter we cannot express

    ranks = [i for i, x in enumerate(w) if ws.free(i) and x in DESC_WORDS | ASC_WORDS
             and not (x == "most" and ws.free(i + 1) and w[i + 1] == "recent")]
    if ranks:
        q.order = "desc" if w[ranks[0]] in DESC_WORDS else "asc"
    rank_idx = set(ranks) | {i for i, x in enumerate(w) if (x.isdigit() or x in NUMBER_WORDS)
                             and (i - 1 in ranks or i + 1 in ranks)}
    state: dict = {}
    found = _bucket(ws, rank_idx)
    if found:
        if not _apply_bucket(ws, q, cols, found[0]):
            return None
        state.update(group_src=found[1], plural=found[2])
    numbers = _numbers(ws, q, cols)
    if numbers is None or len(numbers) > 1 or (numbers and not q.order):
        return None
    _groups_from_triggers(ws, q, cols, state)

    count, noun_j = False, None
    for i, x in enumerate(w):
        if not ws.free(i):
            continue
        nxt = w[i + 1] if i + 1 < len(w) else ""
        pair = (x, nxt) in (("how", "many"), ("number", "of"), ("count", "of"))
        if pair or x in ("count", "counts", "tally"):
            count = True
            ws.mark(i, i + pair)
            noun_j = _noun_after(ws, i + 1 + pair) if noun_j is None else noun_j
        elif x in DISTINCT_WORDS:
            q.agg = q.agg or "distinct"
            ws.mark(i)
        elif x == "most" and nxt == "recent":
            q.agg = "max"
            ws.mark(i, i + 1)
        elif x in AGG_WORDS and q.agg is None:
            q.agg = AGG_WORDS[x]
            state["agg_at"] = i
            if _best_at(ws, i, cols)[1] < 2:  # "max temperature" is also temp_max's name: leave it to name it
                ws.mark(i)
        elif x in SHARE_WORDS:
            q.share = True
            ws.mark(i)
            before = w[i - 1] if i else ""
            if ws.free(i - 1) and before.isalpha() and before not in STOPWORDS | set(AGG_WORDS) \
                    and _best_at(ws, i - 1, cols)[0] is None and singular(before) not in name_words(q.table):
                q.doubt = f"{before!r} qualifies the {x} in a way the data does not show"  # "on-time percentage"
        elif x in DESC_WORDS | ASC_WORDS:
            ws.mark(i)
            j = _noun_after(ws, i + 1)
            if x in ("most", "least", "fewest") and ws.free(j) and _best_at(ws, j, cols)[0] is None:
                if w[j].isalpha() and w[j] not in STOPWORDS | COUNTISH:
                    q.count_noun = w[j]  # "the most flights": a row count named after the noun
                    ws.mark(j)
    countish = any(x in COUNTISH for x in w)

    explicit = q.agg
    if count:
        if explicit in ("avg", "median", "min", "max"):
            return None  # an aggregate of counts needs a nested query
        q.agg = None
        if noun_j is not None:
            _count_target(ws, q, cols, noun_j)
        if explicit == "distinct" and q.agg != "distinct":
            return None  # "how many different customers" with no customer column: rows would be wrong
    if q.agg == "distinct" and not q.measures:
        col, n, j = _best_anywhere(ws, [c for c in cols if not c.numeric])
        if col is None:
            return None
        q.measures.append(col)
        ws.mark(*range(j, j + n))

    if (q.order or q.share) and not q.groups and not q.bucket:
        # An id by its name ("top 10 customer ids"), not a number named after the rows ("the longest flight").
        named_ids = [c for c in cols if c.ident and tokens(c.name)[-1:] and tokens(c.name)[-1] in _ID_TAILS]
        col, n, j = _best_anywhere(ws, [c for c in cols if c.dtype in ("string", "boolean")] + named_ids)
        if col is not None:
            q.groups.append(col)
            ws.mark(*range(j, j + n))
            state.setdefault("group_src", "mention")
            state.setdefault("plural", w[j + n - 1] != singular(w[j + n - 1]))

    if q.agg not in ("distinct",) and not (count and q.measures):
        allow = NUMERIC | (TEMPORAL if q.agg in ("min", "max") else set())
        pool = [c for c in cols if c.dtype in allow and c not in q.groups + q.measures
                and snake(c.name) not in UNIT_WORDS and not c.ident]  # summing a month number or an id is never meant
        found_at = []
        while len(found_at) < 3:
            col, n, j = _best_anywhere(ws, pool)
            if col is None:
                break
            if _tied(ws, j, n, pool, col):
                q.doubt = f"{' '.join(w[j:j + n])!r} could be more than one column"
            found_at.append((j, col))
            pool.remove(col)
            ws.mark(*range(j, j + n))
        q.measures += [c for _, c in sorted(found_at, key=lambda f: f[0])]  # in the order they were asked
    state["rank_word"] = w[ranks[0]] if ranks else None
    if _unknown_name(ws, q) or state.get("unknown_by") or q.doubt:
        return None
    known = name_words(q.table).union(*(c.words for c in q.columns))
    state["unexplained"] = [x for i, x in enumerate(w) if ws.free(i) and x.isalpha() and x not in STOPWORDS
                            and singular(x) not in known and singular(x) not in UNIT_WORDS]
    return _finish(q, count, countish, numbers, state, w)


def _names_rows(q: Query, w: list, at: int | None) -> bool:
    """ "total flights" in flights: the word after the aggregate names the table's rows. "total rainfall" (no such
    column) is not a row count, whatever else the question names."""
    if at is None:
        return False
    rest = [x for x in w[at + 1:] if x not in _SKIP_IN_PHRASE and x != "number"]
    return bool(rest) and (singular(rest[0]) in name_words(q.table) or rest[0] in ("rows", "records")
                           or rest[0] == q.count_noun)


def _unknown_name(ws: _Words, q: Query) -> bool:
    """A capitalised word mid-sentence that matched nothing ("flights by Delta" when carriers are
    coded DL) is most likely a filter we cannot resolve; answering without it would mislead."""
    known = name_words(q.table).union(*(c.words for c in q.columns))
    return any(i and ws.free(i) and ws.text[start].isupper() and word not in STOPWORDS
               and singular(word) not in known for i, (word, start, _) in enumerate(ws.spans))


# Rank words that name a quality of a measure, unlike "top", "most" or "busiest", which rank by a count.
_MEASURE_RANKS = (DESC_WORDS | ASC_WORDS) - COUNTISH - {"top", "bottom", "most", "least"}


def _finish(q: Query, count: bool, countish: bool, numbers: list, state: dict, w: list) -> Query | None:
    """Settle the aggregate, ordering and limit once every phrase has been assigned."""
    grouped = bool(q.groups or q.bucket)
    table_named = bool(name_words(q.table) & {singular(x) for x in w})
    if q.agg == "distinct" or (count and q.agg == "sum"):
        pass
    elif count:
        if q.measures:
            return None  # a counted thing plus a numeric column usually hides a condition
        q.agg = "count"
    elif q.agg == "sum" and not q.measures and _names_rows(q, w, state.get("agg_at")):
        q.agg = "count"  # "total flights"
    elif q.agg:
        if not q.measures:
            return None
    elif q.measures:
        if q.order and not grouped:
            q.agg = "rows" if numbers else ("max" if q.order == "desc" else "min")
        elif q.order and state.get("group_src") == "by" and state.get("rank_word") in _MEASURE_RANKS \
                and not numbers and not any(x in ("top", "bottom", "which", "what") for x in w):
            q.agg = "max" if q.order == "desc" else "min"  # "heaviest weight per origin": each origin's heaviest
        else:  # a sum of delays or prices means nothing, so those default to the average
            q.agg = "avg" if any(c.words & NON_ADDITIVE for c in q.measures) else "sum"
    elif grouped and "best" in w and not (countish or q.count_noun):
        return None  # "the best carrier" has no measure we could rank by honestly
    elif grouped and state.get("rank_word") in _MEASURE_RANKS and not (countish or q.count_noun):
        return None  # "the heaviest species": heavy by which column? Counting rows would answer another question
    elif grouped and (q.order or q.share or countish or q.count_noun or table_named):
        q.agg = "count"
    elif (q.filters or q.year) and (q.count_noun or table_named):
        q.agg = "count"
    elif grouped and len(w) <= 4 and not state.get("unexplained"):
        q.agg = "count"  # "by region", "flights per day": terse grouping questions count rows
        # ("fuel economy over time" names a measure the table lacks: counting rows would answer another question)
    else:
        return None
    if q.agg not in ("distinct", "min", "max") and any(not c.numeric for c in q.measures):
        return None
    if q.share and not grouped:
        return None  # "what share of flights are late": a share of a condition, not of a breakdown
    if q.share and q.agg not in ("sum", "count"):
        q.share = False
    if q.agg == "rows":
        q.limit = numbers[0]
        return q
    if not grouped:
        if q.order and q.agg == "count":
            return None  # "most flights" with nothing to rank
        q.order = None
        return q
    if numbers:
        q.limit = numbers[0]
    elif q.order:
        top = any(x in ("top", "bottom") for x in w)
        plural = state.get("plural", False)
        if top:
            q.limit = 5 if plural else 1
        elif state.get("group_src") in ("which", "mention"):
            q.limit = None if plural else 1
    return q
