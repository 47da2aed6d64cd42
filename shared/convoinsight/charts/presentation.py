"""Presentation rules applied to every bound spec, model-written or suggested, so a chart can be published.

Vega-Lite's defaults suit exploration, not a slide: axis titles are field names (``total_revenue``),
a band is 20 pixels (a 4-region bar chart is 80 pixels wide), short labels are turned vertical,
bars keep the table's order, a pie has no percentages and the palette is not colour-blind safe.
``present`` fixes what the spec leaves unsaid, and never overrides what it says:

* **titles**: each channel's axis/legend title from the dataset's labels (labels.py); the chart title
  cleaned (titles.py);
* **numbers**: thousands separators, shares as percentages, money with its currency (the label's
  own symbol, else ``currency``), decimals by magnitude; the same formats in tooltips;
* **bars**: sorted by value (unless the axis is ordinal, temporal or looks ordered), sized by step,
  horizontal when labels are long or many, labels level when they fit; grouped bars by colour;
* **time**: dates without a time of day on a UTC scale (as they are parsed), a format by span;
* **pies**: each slice's share written beside it (a share column added to the bound rows) and in
  the tooltip, slices largest first;
* a colour-blind-safe palette (Okabe-Ito; viridis for sequential scales) and tooltips.

The spec comes in bound (``data.values``) because sizes, formats and orientation depend on the
rows. ``present`` is idempotent (presenting twice changes nothing more), and the visualizer checks
the result against the policy and the schema again, keeping the spec as it was if that fails.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from typing import Any

from convoinsight.charts import policy, view
from convoinsight.charts.schema import validate_spec
from convoinsight.charts.titles import clean_title

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
SAFE_SCHEMES = {"viridis", "cividis", "magma", "inferno", "plasma", "turbo", "blues", "greens", "greys", "oranges",
                "purples", "reds", "bluegreen", "bluepurple", "goldgreen", "goldorange", "goldred", "greenblue",
                "orangered", "purpleblue", "purplered", "redpurple", "yellowgreen", "yelloworangebrown",
                "yelloworangered", "blueorange", "purpleorange", "redblue", "brownbluegreen", "purplegreen"}
log = logging.getLogger(__name__)
# vl-convert draws "sans-serif" with its bundled Liberation Sans; naming it (then Arial, metric-compatible) makes a
# browser measure and wrap text as the server's PNG does.
FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
SHARE_FIELD = "share_of_total"
CONTINUOUS_WIDTH, CONTINUOUS_HEIGHT = 560, 300
BAR_SPAN_PX = 480  # the width a vertical bar chart aims at, whatever its number of bars
MIN_STEP, MAX_STEP, HORIZONTAL_STEP = 28, 90, 24
MIN_GROUPED_STEP, MAX_GROUPED_STEP = 14, 40
LONG_LABEL = 12  # characters past which category labels go on a horizontal bar's y axis
MANY_BARS = 20
CHAR_PX = 7  # a character of an 11-px axis label, generously
PIE_RADIUS = 110
MIN_LABELLED_SHARE = 0.04  # smaller slices get their share in the tooltip only

_MONEY = re.compile(r"revenue|sales|price|cost|amount|spend|profit|income|earning|salary|fee|payment|budget|"
                    r"turnover|\bmrr\b|\barr\b|\$|€|£|¥|\busd\b|\beur\b|\bgbp\b|\bjpy\b", re.IGNORECASE)
_CURRENCIES = [(re.compile(r"\$|\busd\b|dollar", re.I), "$"), (re.compile(r"€|\beur\b|euro", re.I), "€"),
               (re.compile(r"£|\bgbp\b|pound", re.I), "£"), (re.compile(r"¥|\bjpy\b|\byen\b", re.I), "¥")]
_SHARE = re.compile(r"share|percent|pct|ratio|proportion|fraction|rate\b|_rate|%", re.IGNORECASE)
_ORDERED = re.compile(r"^(year|month|quarter|week|day|date|hour|minute|weekday|dow|period|time|age_group|"
                      r"rank|bucket|bin)s?$|_(year|month|quarter|week|day|date|hour)$", re.IGNORECASE)
_POSITION = ("x", "y")
_VALUE_CHANNELS = ("x", "y", "theta", "radius", "color", "size", "opacity", "text")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?")


def present(spec: dict[str, Any], titles: dict[str, str] | None = None, *, currency: str = "$",
            truncated: dict[str, Any] | None = None) -> dict[str, Any]:
    """A presented copy of the bound ``spec`` (see the module docstring); ``spec`` is not changed."""
    out = copy.deepcopy(spec)
    data = out.get("data") if isinstance(out.get("data"), dict) else {}
    rows = [r for r in data.get("values") or [] if isinstance(r, dict)]
    ctx = _Context(titles or {}, rows, currency)
    _title(out)
    if "mark" in out and isinstance(out.get("encoding"), dict):
        mark = view.mark_type(out["mark"])
        _channels(out["encoding"], ctx)
        if mark == "bar":
            _bar(out, ctx)
        elif mark == "arc":
            _pie(out, ctx, truncated)
        elif mark in ("line", "area", "point", "circle", "square", "trail", "tick", "rule"):
            _continuous(out, out["encoding"], ctx)
        _tooltip(out, ctx)
    elif isinstance(out.get("layer"), list):
        shared = out.get("encoding") if isinstance(out.get("encoding"), dict) else {}
        _channels(shared, ctx)
        for layer in out["layer"]:
            if isinstance(layer, dict) and isinstance(layer.get("encoding"), dict):
                _channels(layer["encoding"], ctx)
        if view.primary_view(out)[0] in ("line", "area", "point", "circle"):
            _continuous(out, view.primary_view(out)[1], ctx)
    _config(out, ctx)
    return out


def apply(spec: dict[str, Any], titles: dict[str, str] | None = None, *, currency: str = "$",
          truncated: dict[str, Any] | None = None) -> dict[str, Any]:
    """``present``, checked again against the rendering policy and the schema; ``spec`` itself if that fails.

    The rules only add what Vega-Lite accepts, but a model's spec can combine with them in ways no
    test foresaw: a chart drawn as written beats no chart.
    """
    try:
        presented = present(spec, titles, currency=currency, truncated=truncated)
        rest = {k: v for k, v in presented.items() if k != "data"}
        policy.check(rest)
        validate_spec(rest)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("presentation rules left out of a chart: %s", exc)
        return spec
    return presented


class _Context:
    def __init__(self, titles: dict[str, str], rows: list[dict[str, Any]], currency: str) -> None:
        self.titles, self.rows, self.currency = titles, rows, currency
        self.symbol: str | None = None  # the currency drawn, when it is not the locale's "$"

    def values(self, field: str) -> list[Any]:
        return [r.get(field) for r in self.rows if r.get(field) is not None]

    def numbers(self, field: str) -> list[float]:
        return [v for v in self.values(field) if _number(v)]

    def text(self, field: str) -> str:
        return f"{field} {self.titles.get(field, '')}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _title(spec: dict[str, Any]) -> None:
    title = spec.get("title")
    if isinstance(title, str):
        spec["title"] = clean_title(title) or title
    elif isinstance(title, dict) and isinstance(title.get("text"), str) and "fontSize" not in title:
        title["text"] = clean_title(title["text"]) or title["text"]  # (a small one is the truncation note)


def _channels(encoding: dict[str, Any], ctx: _Context) -> None:
    """Human titles and number formats on every field channel that does not set them."""
    for name, channel in encoding.items():
        if not isinstance(channel, dict) or name in ("tooltip", "detail", "order", "key", "href"):
            continue
        field = channel.get("field")
        if "title" not in channel and channel.get("aggregate") is None and channel.get("bin") is None:
            if isinstance(field, str) and field in ctx.titles:
                channel["title"] = ctx.titles[field]
        if "title" not in channel and channel.get("aggregate") == "count" and field is None:
            channel["title"] = "Number of rows"
        if channel.get("type") == "quantitative" and isinstance(field, str) and name in _VALUE_CHANNELS:
            axis_format, _ = number_formats(ctx, field, aggregated=channel.get("aggregate") is not None)
            guide = "axis" if name in _POSITION else "legend" if name in ("color", "size", "opacity") else None
            if name == "text":
                channel.setdefault("format", number_formats(ctx, field)[1])
            elif guide and channel.get(guide, {}) is not None and not isinstance(channel.get(guide, {}), bool):
                channel.setdefault(guide, {})
                if isinstance(channel[guide], dict):
                    channel[guide].setdefault("format", axis_format)


def number_formats(ctx: _Context, field: str, aggregated: bool = False) -> tuple[str, str]:
    """(axis format, exact format) for a measure: d3-format strings."""
    text, numbers = ctx.text(field), ctx.numbers(field)
    if _SHARE.search(text) and numbers and all(-1 <= v <= 1 for v in numbers) and not aggregated:
        return ".0%", ".1%"
    money = bool(_MONEY.search(text))
    symbol = next((s for pattern, s in _CURRENCIES if pattern.search(text)), ctx.currency if money else "")
    prefix = ""
    if symbol:
        prefix = "$"  # d3's currency marker: the locale's symbol (config.locale sets it when it is not "$")
        if symbol != "$":
            ctx.symbol = ctx.symbol or symbol
    largest = max((abs(v) for v in numbers), default=0.0)
    integers = bool(numbers) and all(float(v).is_integer() for v in numbers) and not aggregated
    decimals = 0 if integers else 2 if money else 0 if largest >= 1000 else 1 if largest >= 10 else 2
    exact = f"{prefix},.{decimals}f"
    axis = f"{prefix}.3~s" if largest >= 1e6 and not aggregated else f"{prefix},~f"
    return axis, exact


def _category(encoding: dict[str, Any]) -> tuple[str | None, str | None]:
    """(category channel, measure channel) of a bar chart: a discrete axis against a quantitative one."""
    for cat, measure in (("x", "y"), ("y", "x")):
        if view.kind(encoding, cat) in ("nominal", "ordinal") and view.kind(encoding, measure) == "quantitative":
            return cat, measure
    return None, None


def _ordered(ctx: _Context, encoding: dict[str, Any], channel: str) -> bool:
    field = view.field(encoding, channel) or ""
    values = ctx.values(field)
    return (view.kind(encoding, channel) == "ordinal" or bool(_ORDERED.search(field))
            or (bool(values) and all(_number(v) for v in values)))


def _bar(spec: dict[str, Any], ctx: _Context) -> None:
    encoding = spec["encoding"]
    cat, measure = _category(encoding)
    if cat is None or any(isinstance(encoding.get(c), dict) and encoding[c].get("bin") for c in ("x", "y")):
        return
    field = view.field(encoding, cat)
    labels = {str(v) for v in ctx.values(field)} if field else set()
    group = view.field(encoding, "xOffset") or view.field(encoding, "yOffset")
    groups = len({str(v) for v in ctx.values(group)}) if group else 1
    longest = max((len(label) for label in labels), default=0)
    if cat == "x" and "width" not in spec and "height" not in spec and (
            longest > LONG_LABEL or len(labels) * groups > MANY_BARS):
        _swap_axes(encoding)
        cat, measure = "y", "x"
    channel = encoding[cat]
    if "sort" not in channel and not _ordered(ctx, encoding, cat):
        if view.field(encoding, "color") or group:
            channel["sort"] = {"field": view.field(encoding, measure), "op": "sum", "order": "descending"}
        else:
            channel["sort"] = f"-{measure}"
    if cat == "x":
        # With an offset channel the step is each bar's, inside its group's band.
        low, high = (MIN_GROUPED_STEP, MAX_GROUPED_STEP) if group else (MIN_STEP, MAX_STEP)
        step = max(low, min(high, round(BAR_SPAN_PX / max(1, len(labels) * groups))))
        spec.setdefault("width", {"step": step})
        axis = channel.setdefault("axis", {})
        if isinstance(axis, dict) and "labelAngle" not in axis and longest * CHAR_PX <= _step_px(spec, step) * groups:
            axis["labelAngle"] = 0
    else:
        spec.setdefault("height", {"step": HORIZONTAL_STEP if not group else MIN_GROUPED_STEP})
        spec.setdefault("width", BAR_SPAN_PX)
        axis = channel.setdefault("axis", {})
        if isinstance(axis, dict):
            axis.setdefault("labelLimit", 240)


def _step_px(spec: dict[str, Any], default: int) -> float:
    width = spec.get("width")
    return width.get("step", default) if isinstance(width, dict) else default


def _swap_axes(encoding: dict[str, Any]) -> None:
    for a, b in (("x", "y"), ("x2", "y2"), ("xOffset", "yOffset")):
        first, second = encoding.pop(a, None), encoding.pop(b, None)
        if first is not None:
            encoding[b] = first
        if second is not None:
            encoding[a] = second
    for channel in encoding.values():
        if isinstance(channel, dict) and channel.get("sort") in ("x", "-x", "y", "-y"):
            sort = channel["sort"]
            channel["sort"] = sort.replace("x", "#").replace("y", "x").replace("#", "y")


def _continuous(spec: dict[str, Any], encoding: dict[str, Any], ctx: _Context) -> None:
    spec.setdefault("width", CONTINUOUS_WIDTH)
    spec.setdefault("height", CONTINUOUS_HEIGHT)
    x = spec.get("encoding", {}).get("x") if isinstance(spec.get("encoding"), dict) else None
    if not isinstance(x, dict) or x.get("type") != "temporal" or x.get("timeUnit"):
        return
    values = [str(v) for v in ctx.values(x.get("field", ""))]
    if values and all(_DATE_ONLY.match(v) for v in values):
        # ISO dates are parsed as UTC midnight: a local-time axis would label them with the day before.
        scale = x.setdefault("scale", {})
        if isinstance(scale, dict):
            scale.setdefault("type", "utc")
    axis = x.setdefault("axis", {})
    if isinstance(axis, dict) and "format" not in axis:
        axis["format"] = _time_format(values)
        axis.setdefault("labelAngle", 0)  # (a utc scale's axis formats in UTC by itself; formatType would drop it)


def _time_format(values: list[str]) -> str:
    stamps = sorted(m.groups() for v in values if (m := _DATE_TIME.match(v)))
    if len(stamps) < 2:
        return "%b %d, %Y"
    (y0, m0, d0, *_), (y1, m1, d1, *_) = stamps[0], stamps[-1]
    months = (int(y1) - int(y0)) * 12 + int(m1) - int(m0)
    if months >= 36:
        return "%Y"
    if months >= 2:
        return "%b %Y"
    if (months, int(d1) - int(d0)) > (0, 1) or months:
        return "%b %d"
    return "%H:%M"


def _pie(spec: dict[str, Any], ctx: _Context, truncated: dict[str, Any] | None) -> None:
    encoding = spec["encoding"]
    theta, color = view.channel(encoding, "theta"), view.field(encoding, "color")
    field = theta.get("field")
    values = ctx.numbers(field) if isinstance(field, str) else []
    categories = [r.get(color) for r in ctx.rows] if color else []
    complete = truncated is None or (truncated.get("method") == "other" and "result" not in truncated)
    if (not isinstance(field, str) or theta.get("aggregate") is not None or not color or not complete
            or len(values) != len(ctx.rows) or len(set(map(str, categories))) != len(categories)
            or any(v < 0 for v in values) or sum(values) <= 0 or SHARE_FIELD in (ctx.rows[0] if ctx.rows else {})):
        return
    total = math.fsum(values)
    for row in ctx.rows:
        row[SHARE_FIELD] = row[field] / total  # the bound rows are this copy's: the share of the whole result
    theta.setdefault("stack", True)
    view.channel(encoding, "color").setdefault("sort", {"field": field, "order": "descending"})
    encoding.setdefault("order", {"field": field, "type": "quantitative", "sort": "descending"})
    encoding.setdefault("tooltip", [
        {"field": color, "type": "nominal", "title": ctx.titles.get(color, color)},
        {"field": field, "type": "quantitative", "title": ctx.titles.get(field, field),
         "format": number_formats(ctx, field)[1]},
        {"field": SHARE_FIELD, "type": "quantitative", "title": "Share", "format": ".1%"}])
    mark = spec.pop("mark")
    arc = dict(mark) if isinstance(mark, dict) else {"type": mark}
    if not any(k in arc for k in ("outerRadius", "radius")):
        arc["outerRadius"] = PIE_RADIUS
    radius = arc.get("outerRadius", arc.get("radius", PIE_RADIUS))
    radius = radius if _number(radius) else PIE_RADIUS
    text = {"condition": {"test": {"field": SHARE_FIELD, "lt": MIN_LABELLED_SHARE}, "value": ""},
            "field": SHARE_FIELD, "type": "quantitative", "format": ".0%"}
    spec["layer"] = [{"mark": arc},
                     {"mark": {"type": "text", "radius": radius + 18, "fontSize": 12},
                      # dark text whatever the slice's colour (a yellow label on white is unreadable)
                      "encoding": {"text": text, "color": {"value": "#222222"}}}]
    spec.setdefault("width", 2 * radius + 80)
    spec.setdefault("height", 2 * radius + 80)
    spec.setdefault("view", {"stroke": None})


def _tooltip(spec: dict[str, Any], ctx: _Context) -> None:
    encoding = spec.get("encoding")
    if not isinstance(encoding, dict) or "tooltip" in encoding:
        return
    items, seen = [], set()
    for name in ("x", "y", "xOffset", "yOffset", "color", "theta", "size"):
        channel = encoding.get(name)
        if not isinstance(channel, dict) or not isinstance(channel.get("field"), str):
            continue
        if any(channel.get(k) for k in ("aggregate", "bin", "timeUnit")):
            return  # the tooltip would show raw rows, not what is drawn
        field = channel["field"]
        if field in seen:
            continue
        seen.add(field)
        item = {"field": field, "type": channel.get("type", "nominal"), "title": ctx.titles.get(field, field)}
        if item["type"] == "quantitative":
            item["format"] = number_formats(ctx, field)[1]
        elif item["type"] == "temporal":
            item["format"] = "%b %d, %Y"
            if isinstance(channel.get("scale"), dict) and channel["scale"].get("type") == "utc":
                item["formatType"] = "utc"
        items.append(item)
    if items:
        encoding["tooltip"] = items


def _config(spec: dict[str, Any], ctx: _Context) -> None:
    config = spec.setdefault("config", {})
    if not isinstance(config, dict):
        return
    colour = config.setdefault("range", {})
    if isinstance(colour, dict):
        colour.setdefault("category", OKABE_ITO)
        colour.setdefault("ramp", {"scheme": "viridis"})
        colour.setdefault("heatmap", {"scheme": "viridis"})
    mark = config.setdefault("mark", {})
    if isinstance(mark, dict):
        mark.setdefault("color", OKABE_ITO[0])
    config.setdefault("font", FONT)
    config.setdefault("title", {"anchor": "start", "fontSize": 15, "subtitleFontSize": 11, "offset": 10})
    config.setdefault("axis", {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal",
                               "titlePadding": 8})
    config.setdefault("legend", {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal"})
    if ctx.symbol:
        config.setdefault("locale", {"number": {"decimal": ".", "thousands": ",", "grouping": [3],
                                                "currency": [ctx.symbol, ""]}})
    for _, channel in view.walk({k: v for k, v in spec.items() if k not in ("data", "config")}):
        if isinstance(channel, dict) and isinstance(channel.get("scale"), dict):
            scheme = channel["scale"].get("scheme")
            name = scheme.get("name") if isinstance(scheme, dict) else scheme
            if isinstance(name, str) and name.lower() not in SAFE_SCHEMES and channel.get("type") == "nominal":
                del channel["scale"]["scheme"]  # an unsafe categorical scheme gives way to the Okabe-Ito range
