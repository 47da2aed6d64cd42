"""PostgreSQL ``to_char`` / ``to_date`` / ``to_timestamp`` templates, translated for DuckDB.

DuckDB formats with strftime codes and has no ``to_char``; PostgreSQL's template patterns
(``YYYY-MM``, ``Mon YYYY``, ``FMMonth``, ``"Q"Q``, ``Day``...) differ in padding, case and
coverage. Each PostgreSQL pattern becomes a strftime code where one exists, or a small
expression (quarter, day-of-week number, blank-padded names) where none does; the pieces
are joined with ``||``. Numeric templates (``FM999,999.00``) become a rounded ``format()``.
A template that is not a string literal is left to fail at execution, where the manipulator
gets the reason.
"""

from __future__ import annotations

import re

from sqlglot import exp

# Longest first: the template is scanned greedily, as PostgreSQL does.
_DATE_TOKENS = (
    "HH24", "HH12", "IYYY", "YYYY", "A.M.", "P.M.", "a.m.", "p.m.", "MONTH", "Month", "month", "IDDD",
    "YYY", "MON", "Mon", "mon", "DAY", "Day", "day", "DDD", "HH", "MI", "SS", "MS", "US", "AM", "PM", "am",
    "pm", "YY", "MM", "DY", "Dy", "dy", "DD", "ID", "WW", "IW", "TZ", "Y", "D", "Q",
)
# strftime code, code without padding (FM), case: "" / "upper" / "lower", blank-pad width
_STRFTIME = {
    "YYYY": ("%Y", "%Y"), "YY": ("%y", "%y"), "IYYY": ("%G", "%G"), "MM": ("%m", "%-m"), "DD": ("%d", "%-d"),
    "DDD": ("%j", "%-j"), "HH24": ("%H", "%-H"), "HH12": ("%I", "%-I"), "HH": ("%I", "%-I"),
    "MI": ("%M", "%-M"), "SS": ("%S", "%-S"), "MS": ("%g", "%g"), "US": ("%f", "%f"), "IW": ("%V", "%-V"),
    "AM": ("%p", "%p"), "PM": ("%p", "%p"),
}
_NAMES = {"MONTH": ("%B", 9), "MON": ("%b", 0), "DAY": ("%A", 9), "DY": ("%a", 0)}
_PARSE = {
    "YYYY": "%Y", "YY": "%y", "MM": "%m", "DD": "%d", "DDD": "%j", "HH24": "%H", "HH12": "%I", "HH": "%I",
    "MI": "%M", "SS": "%S", "MS": "%g", "US": "%f", "MONTH": "%B", "MON": "%b", "DAY": "%A", "DY": "%a",
    "AM": "%p", "PM": "%p", "A.M.": "%p", "P.M.": "%p",
}
_NUMERIC_TEMPLATE = re.compile(r"^(FM)?[$L]?[90G,]*([.D][90]+)?%?$")


def _tokens(template: str):
    """Yield (kind, text, fill_mode): kind is "token" or "literal"."""
    i, fill = 0, False
    while i < len(template):
        if template.startswith(("FM", "fm"), i):
            fill, i = True, i + 2
            continue
        if template[i] == '"':
            end = template.find('"', i + 1)
            end = len(template) if end < 0 else end
            yield "literal", template[i + 1:end], False
            i = end + 1
            continue
        if template[i] == "\\" and i + 1 < len(template):
            yield "literal", template[i + 1], False
            i += 2
            continue
        token = next((t for t in _DATE_TOKENS if template.startswith(t, i)), None)
        if token is None:
            yield "literal", template[i], False
            i += 1
            continue
        yield "token", token, fill
        fill = False
        i += len(token)


def _strftime(value: exp.Expr, code: str) -> exp.Expr:
    return exp.Anonymous(this="STRFTIME", expressions=[value.copy(), exp.Literal.string(code)])


def _cased(piece: exp.Expr, token: str) -> exp.Expr:
    if token.isupper() and len(token) > 1:
        return exp.Upper(this=piece)
    if token.islower():
        return exp.Lower(this=piece)
    return piece


def _as_text(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("VARCHAR"))


def to_char(value: exp.Expr, template: str) -> exp.Expr:
    """DuckDB expression for PostgreSQL ``to_char(value, template)``."""
    if _NUMERIC_TEMPLATE.match(template) and any(c in template for c in "90"):
        return _number_to_char(value, template)
    pieces: list[exp.Expr] = []
    code = ""  # adjacent strftime codes and literals are merged into one STRFTIME call

    def flush() -> None:
        nonlocal code
        if code:
            pieces.append(_strftime(value, code))
            code = ""

    for kind, text, fill in _tokens(template):
        if kind == "literal":
            code += text.replace("%", "%%")
            continue
        upper = text.upper()
        if upper in _STRFTIME:
            padded, unpadded = _STRFTIME[upper]
            code += unpadded if fill else padded
            if upper in ("AM", "PM") and text.islower():
                flush()
                pieces[-1] = exp.Lower(this=pieces[-1])
            continue
        flush()
        if upper in _NAMES:
            name_code, width = _NAMES[upper]
            piece: exp.Expr = _cased(_strftime(value, name_code), text)
            if width and not fill:
                piece = exp.Pad(this=piece, expression=exp.Literal.number(width), fill_pattern=exp.Literal.string(" "),
                                is_left=False)
            pieces.append(piece)
        elif upper == "Q":
            pieces.append(_as_text(exp.Anonymous(this="QUARTER", expressions=[value.copy()])))
        elif upper == "D":  # PostgreSQL: Sunday = 1
            pieces.append(_as_text(exp.Add(this=exp.Anonymous(this="DAYOFWEEK", expressions=[value.copy()]),
                                           expression=exp.Literal.number(1))))
        elif upper == "ID":
            pieces.append(_as_text(exp.Anonymous(this="ISODOW", expressions=[value.copy()])))
        elif upper == "WW":
            week = exp.Add(this=exp.IntDiv(this=exp.Sub(this=exp.Anonymous(this="DAYOFYEAR",
                                                                              expressions=[value.copy()]),
                                                           expression=exp.Literal.number(1)),
                                           expression=exp.Literal.number(7)),
                           expression=exp.Literal.number(1))
            text_week = _as_text(week)
            pieces.append(text_week if fill else exp.Pad(this=text_week, expression=exp.Literal.number(2),
                                                         fill_pattern=exp.Literal.string("0"), is_left=True))
        elif upper in ("Y", "YYY"):
            pieces.append(exp.Right(this=_strftime(value, "%Y"), expression=exp.Literal.number(len(upper))))
        else:  # TZ, A.M. and the rare rest: as strftime would print them
            code += {"A.M.": "%p", "P.M.": "%p", "TZ": "UTC", "IDDD": "%j"}.get(upper, text)
    flush()
    if not pieces:
        return exp.Literal.string("")
    out = pieces[0]
    for piece in pieces[1:]:
        out = exp.DPipe(this=out, expression=piece, safe=True)
    return out


def _number_to_char(value: exp.Expr, template: str) -> exp.Expr:
    fill = template.startswith("FM")
    body = template[2:] if fill else template
    whole, _, decimals = re.sub(r"D", ".", body).partition(".")
    decimals = decimals.rstrip("%")
    places = len(decimals)
    grouping = "," if ("," in whole or "G" in whole) else ""
    digits = sum(1 for c in whole if c in "90")
    zero_pad = whole.lstrip("$L").startswith("0")
    spec = "{:" + (f"0{digits + places + (1 if places else 0)}" if zero_pad and not grouping else "") + grouping + \
        f".{places}f" + "}"
    rounded = exp.Round(this=exp.Cast(this=value.copy(), to=exp.DataType.build("DECIMAL(38,10)")),
                        decimals=exp.Literal.number(places))
    text: exp.Expr = exp.Anonymous(this="FORMAT", expressions=[exp.Literal.string(spec),
                                                               exp.Cast(this=rounded,
                                                                        to=exp.DataType.build("DOUBLE"))])
    if "$" in whole or "L" in whole:
        text = exp.DPipe(this=exp.Literal.string("$"), expression=text, safe=True)
    if template.endswith("%"):
        text = exp.DPipe(this=text, expression=exp.Literal.string("%"), safe=True)
    if not fill:  # PostgreSQL pads to the template's width plus a sign position
        text = exp.Pad(this=text, expression=exp.Literal.number(len(body) + 1), fill_pattern=exp.Literal.string(" "),
                       is_left=True)
    return text


def parse_template(template: str) -> str:
    """strptime format for a PostgreSQL ``to_date``/``to_timestamp`` template."""
    code = ""
    for kind, text, _fill in _tokens(template):
        if kind == "literal":
            code += text.replace("%", "%%")
        else:
            code += _PARSE.get(text.upper(), text)
    return code


def to_date(value: exp.Expr, template: str) -> exp.Expr:
    return exp.Cast(this=_strptime(value, template), to=exp.DataType.build("DATE"))


def to_timestamp(value: exp.Expr, template: str) -> exp.Expr:
    return _strptime(value, template)


def _strptime(value: exp.Expr, template: str) -> exp.Expr:
    return exp.Anonymous(this="STRPTIME", expressions=[value.copy(), exp.Literal.string(parse_template(template))])
