"""What a model-written Vega-Lite spec may ask the renderer to do: no code, and nothing unbounded.

The JSON schema (schema.py) says what is well-formed; it happily accepts a spec that makes
Vega allocate a hundred million bins, draw a three-million-pixel axis with two million ticks,
or run a catastrophic regular expression. A Vega-Lite spec is a program for a JavaScript
engine, and the model (or whoever steers it through a dataset) writes it, so this module
checks every key at every depth, ``config`` included:

* **No code.** Expressions are refused wherever they may appear: ``expr`` (every ExprRef),
  any ``*Expr`` key (``labelExpr``...), ``calculate``, ``filter`` and condition ``test`` given as
  expression strings (field predicates such as ``{"field": "x", "gt": 1}`` are fine), ``params``
  and references to them (``param``), ``bind``, ``signal``, ``regexp`` keys and custom
  ``formatType`` functions; ``lineBreak`` (a regular expression in Vega) must be a short literal.
  So no ``pad``, ``sequence``, ``regexp`` or any other expression function can be reached.
* **No generators.** ``sequence``, ``graticule`` and ``sphere`` data, ``impute`` key sequences
  (``keyvals`` objects; a list of at most MAX_KEYVALS is fine), scale ``bins`` objects without
  bounds, ``bin.step`` without an ``extent`` bounding the bin count, and ``bin.steps``.
* **Transforms from an allow-list**: aggregate, bin, density (at most MAX_DENSITY_STEPS steps),
  filter (predicates only), fold (at most MAX_FOLD fields), impute, joinaggregate, loess, quantile
  (at most MAX_QUANTILES), regression (order at most MAX_REGRESSION_ORDER), sample, stack, timeUnit,
  window. Refused: calculate, flatten, pivot, lookup, extent (they compute expressions, multiply
  rows or columns by the data, or only feed expressions); the SQL can do what they would.
* **Every size-like number bounded**: ``width``/``height`` and every ``*Width``/``*Height``
  (``continuousWidth``, ``discreteHeight``, ``strokeWidth``...), ``size``/``*Size``, ``*Limit``,
  ``*Length``, ``*Thickness`` and radii at most MAX_SIZE_PX pixels; font sizes at most
  MAX_FONT_PX; a band ``step`` at most MAX_STEP_PX; ``padding``/``*Padding`` and ``spacing`` at
  most MAX_PADDING_PX; ``maxbins`` at most MAX_BINS; ``tickCount`` a number up to MAX_TICKS or a
  coarse interval name; colour ``count`` at most MAX_SCHEME_COLORS; dash patterns of at most
  MAX_DASH_ITEMS entries adding up to at least one pixel; format strings without widths or
  precisions over 99; ``repeat`` and the number of views at most MAX_VIEWS.
* **The spec itself bounded**: at most MAX_NODES values, MAX_DEPTH levels, MAX_LIST items per
  list, MAX_STRING characters per string, and only finite numbers.

Everything here **refuses** (a ValueError whose message starts with the key path, such as
``config/view/continuousWidth: ...``); nothing is clamped or stripped, so a chart is drawn as
written or not at all. The visualizer then replaces the model's spec by the suggested one, and a
stored spec that fails is not rendered (422 ``chart_not_renderable``). Bound data
(``data.values``) is not the spec and is not walked. These rules are the first line; the render
worker's time and memory limits (render.py) hold for whatever they do not foresee.
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_SIZE_PX = 4000  # a width or height past this is a mistake or an attack (a PNG is width x height x scale²)
MAX_STEP_PX = 200
MAX_PADDING_PX = 400
MAX_FONT_PX = 200
MAX_BINS = 200
MAX_TICKS = 100
MAX_SCHEME_COLORS = 256
MAX_COLUMNS = 100
MAX_VIEWS = 20
MAX_FOLD = 50
MAX_KEYVALS = 100
MAX_QUANTILES = 100
MAX_DENSITY_STEPS = 1000
MAX_REGRESSION_ORDER = 10
MAX_DASH_ITEMS = 16
MAX_NODES = 5000
MAX_DEPTH = 32
MAX_LIST = 1000
MAX_STRING = 5000

ALLOWED_TRANSFORMS = frozenset({"aggregate", "bin", "density", "filter", "fold", "impute", "joinaggregate", "loess",
                                "quantile", "regression", "sample", "stack", "timeUnit", "window"})
REFUSED_TRANSFORMS = {
    "calculate": "computes an expression",
    "flatten": "multiplies rows by the length of arrays",
    "pivot": "makes a column per distinct value",
    "lookup": "joins data the spec may not carry",
    "extent": "only feeds a parameter to expressions",
}
_TRANSFORM_KEYS = ALLOWED_TRANSFORMS | REFUSED_TRANSFORMS.keys()

# Keys refused wherever they appear, and why.
_REFUSED_KEYS = {
    "expr": "expressions are not allowed",
    "signal": "Vega signals are not allowed",
    "signals": "Vega signals are not allowed",
    "bind": "input bindings are not allowed",
    "selection": "selections are not allowed",
    "regexp": "regular expressions are not allowed",
    "regex": "regular expressions are not allowed",
    "sequence": "generated data is not allowed",
    "graticule": "generated data is not allowed",
    "sphere": "generated data is not allowed",
    "href": "links are not allowed in a chart image",
    "url": "the spec may not load remote data or images",
}
_FORMAT_TYPES = {"number", "time", "utc"}
_TICK_INTERVALS = {"year", "quarter", "month", "week"}
_STEP_PARENTS = {"width", "height", "view", "discreteWidth", "discreteHeight"}
_REGEX_CHARS = re.compile(r"[\\^$.|?*+()\[\]{}]")
_LONG_NUMBER = re.compile(r"\d{3,}")
_PX_SUFFIXES = ("Width", "Height", "Limit", "Length", "Thickness", "Radius", "Radius2")
_PX_KEYS = {"width", "height", "limit", "radius", "radius2", "thickness", "size"}


def check(spec: Any) -> None:
    """Raise ValueError naming the key path of the first thing the policy refuses; return None when none.

    Bound rows (the top level's ``data.values``) are skipped: a result may have a column called "expr".
    """
    data = spec.get("data") if isinstance(spec, dict) else None
    if isinstance(data, dict) and "values" in data:
        spec = {**spec, "data": {k: v for k, v in data.items() if k != "values"}}
    _Walk().value(spec, ())


def _where(path: tuple) -> str:
    return "/".join(str(p) for p in path) or "(top level)"


def _refuse(path: tuple, reason: str) -> None:
    raise ValueError(f"{_where(path)}: {reason}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def _at_most(path: tuple, value: Any, limit: float, what: str) -> None:
    if _number(value) and value > limit:
        _refuse(path, f"{_show(value)} is larger than {_show(limit)} {what}")


class _Walk:
    def __init__(self) -> None:
        self.nodes = 0
        self.views = 0

    def value(self, value: Any, path: tuple) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            _refuse(path, f"the spec has more than {MAX_NODES} values")
        if len(path) > MAX_DEPTH:
            _refuse(path, f"the spec is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            if "mark" in value and "config" not in path:
                self.views += 1
                if self.views > MAX_VIEWS:
                    _refuse(path, f"the spec has more than {MAX_VIEWS} views")
            for key, item in value.items():
                self.key(str(key), item, (*path, key))
        elif isinstance(value, list):
            if len(value) > MAX_LIST:
                _refuse(path, f"a list of {len(value)} items is longer than {MAX_LIST}")
            for i, item in enumerate(value):
                self.value(item, (*path, i))
        elif isinstance(value, str):
            if len(value) > MAX_STRING:
                _refuse(path, f"a text of {len(value)} characters is longer than {MAX_STRING}")
        elif isinstance(value, float) and not math.isfinite(value):
            _refuse(path, "only finite numbers are allowed")

    def key(self, key: str, item: Any, path: tuple) -> None:
        parent = path[-2] if len(path) >= 2 else None
        if key in _REFUSED_KEYS:
            _refuse(path, _REFUSED_KEYS[key])
        if key.endswith("Expr"):
            _refuse(path, "expressions are not allowed")
        if key == "params" and not isinstance(item, bool) and item != []:  # a regression's `params` is a flag
            _refuse(path, "parameters (selections, bindings, expressions) are not allowed")
        if key == "param" and not _number(item):  # a window op's `param` is a number
            _refuse(path, "parameters (selections, bindings, expressions) are not allowed")
        if key == "customFormatTypes" and item:
            _refuse(path, "custom format functions are not allowed")
        if key == "formatType" and not (isinstance(item, str) and item in _FORMAT_TYPES):
            _refuse(path, f"formatType must be one of {', '.join(sorted(_FORMAT_TYPES))}")
        if key == "test":
            _predicate(item, path)
        if key == "transform":
            self.transforms(item, path)
        if key == "bin" and isinstance(item, dict):
            _bin(item, path)
        if key == "bins" and isinstance(item, dict):
            _scale_bins(item, path)
        if key == "keyvals":
            if not isinstance(item, list):
                _refuse(path, "generated impute keys are not allowed; list the keys")
            if len(item) > MAX_KEYVALS:
                _refuse(path, f"{len(item)} impute keys are more than {MAX_KEYVALS}")
        if key == "repeat":
            _repeat(item, path)
        if key == "tickCount" and not _number(item) and not (isinstance(item, str) and item in _TICK_INTERVALS):
            _refuse(path, f"tickCount must be a number up to {MAX_TICKS} or one of "
                          f"{', '.join(sorted(_TICK_INTERVALS))}")
        if key == "lineBreak" and (not isinstance(item, str) or len(item) > 4 or _REGEX_CHARS.search(item)):
            _refuse(path, "lineBreak must be a short literal text, not a regular expression")
        if key == "format" or key.endswith("Format"):
            _format(item, path)
        if (key == "strokeDash" or key.endswith("Dash")) and isinstance(item, list):
            _dash(item, path)
        if key in ("padding", "spacing") or "adding" in key:
            self.padding(item, path)
        if _number(item):
            self.number(key, item, parent, path)
        self.value(item, path)

    def number(self, key: str, item: float, parent: Any, path: tuple) -> None:
        if key == "step":
            if parent in _STEP_PARENTS:
                _at_most(path, item, MAX_STEP_PX, "pixels per step")
        elif key == "maxbins":
            _at_most(path, item, MAX_BINS, "bins")
        elif key == "tickCount":
            _at_most(path, item, MAX_TICKS, "ticks")
        elif key == "count":
            _at_most(path, item, MAX_SCHEME_COLORS, "colours")
        elif key == "columns":
            _at_most(path, item, MAX_COLUMNS, "columns")
        elif key == "fontSize" or key.endswith("FontSize"):
            _at_most(path, item, MAX_FONT_PX, "pixels")
        elif key in _PX_KEYS or key.endswith(_PX_SUFFIXES) or key.endswith("Size") or "Radius" in key:
            _at_most(path, item, MAX_SIZE_PX, "pixels")

    def padding(self, item: Any, path: tuple) -> None:
        values = item.items() if isinstance(item, dict) else [((), item)]
        for side, value in values:
            where = (*path, side) if side != () else path
            _at_most(where, value, MAX_PADDING_PX, "pixels")

    def transforms(self, item: Any, path: tuple) -> None:
        if not isinstance(item, list):
            _refuse(path, "transform must be a list")
        for i, transform in enumerate(item):
            where = (*path, i)
            kinds = [k for k in transform if k in _TRANSFORM_KEYS] if isinstance(transform, dict) else []
            if len(kinds) > 1 and "extent" in kinds:
                kinds.remove("extent")  # density, regression and loess take an `extent` too
            if len(kinds) != 1:
                _refuse(where, "each transform must be exactly one of " + ", ".join(sorted(ALLOWED_TRANSFORMS)))
            kind = kinds[0]
            if kind in REFUSED_TRANSFORMS:
                _refuse((*where, kind), f"the {kind} transform is not allowed: it {REFUSED_TRANSFORMS[kind]}")
            if kind == "filter":
                _predicate(transform["filter"], (*where, "filter"))
            elif kind == "fold" and isinstance(transform["fold"], list) and len(transform["fold"]) > MAX_FOLD:
                _refuse((*where, "fold"), f"folding {len(transform['fold'])} fields is more than {MAX_FOLD}")
            elif kind == "density":
                for name in ("steps", "minsteps", "maxsteps"):
                    _at_most((*where, name), transform.get(name), MAX_DENSITY_STEPS, "steps")
            elif kind == "regression":
                _at_most((*where, "order"), transform.get("order"), MAX_REGRESSION_ORDER,
                         "(the highest polynomial order allowed)")
            elif kind == "quantile":
                probs, step = transform.get("probs"), transform.get("step")
                if isinstance(probs, list) and len(probs) > MAX_QUANTILES:
                    _refuse((*where, "probs"), f"{len(probs)} quantiles are more than {MAX_QUANTILES}")
                if _number(step) and step < 1 / MAX_QUANTILES:
                    _refuse((*where, "step"), f"a step of {step:g} makes more than {MAX_QUANTILES} quantiles")


def _predicate(value: Any, path: tuple) -> None:
    """A filter or condition test: field predicates and their and/or/not, never an expression string."""
    if isinstance(value, str):
        _refuse(path, "expression strings are not allowed; use a field predicate such as "
                      '{"field": "x", "gt": 0}')
    if isinstance(value, dict):
        for op in ("and", "or"):
            if isinstance(value.get(op), list):
                for i, item in enumerate(value[op]):
                    _predicate(item, (*path, op, i))
        if "not" in value:
            _predicate(value["not"], (*path, "not"))


def _bin(params: dict[str, Any], path: tuple) -> None:
    if "steps" in params:
        _refuse((*path, "steps"), f"bin steps are not allowed; use maxbins (at most {MAX_BINS})")
    step = params.get("step")
    if step is None:
        return
    extent = params.get("extent")
    if not (_number(step) and step > 0 and isinstance(extent, list) and len(extent) == 2
            and all(_number(e) for e in extent)):
        _refuse((*path, "step"), f"a bin step needs a numeric extent; or use maxbins (at most {MAX_BINS})")
    if abs(extent[1] - extent[0]) / step > MAX_BINS:
        _refuse((*path, "step"), f"a step of {step:g} over {extent} makes more than {MAX_BINS} bins")


def _scale_bins(params: dict[str, Any], path: tuple) -> None:
    step, start, stop = params.get("step"), params.get("start"), params.get("stop")
    if not (_number(step) and step > 0 and _number(start) and _number(stop)):
        _refuse(path, "scale bins need numeric start, stop and step, or a list of boundaries")
    if abs(stop - start) / step > MAX_BINS:
        _refuse(path, f"scale bins from {start:g} to {stop:g} by {step:g} are more than {MAX_BINS}")


def _repeat(item: Any, path: tuple) -> None:
    counts = [len(item)] if isinstance(item, list) else [
        len(v) for v in item.values() if isinstance(v, list)] if isinstance(item, dict) else []
    views = math.prod(counts) if counts else 1
    if views > MAX_VIEWS:
        _refuse(path, f"repeating makes {views} views, more than {MAX_VIEWS}")


def _format(item: Any, path: tuple) -> None:
    texts = [item] if isinstance(item, str) else [v for v in item.values() if isinstance(v, str)] if isinstance(
        item, dict) else []
    for text in texts:
        if _LONG_NUMBER.search(text):
            _refuse(path, f"format {text[:40]!r} asks for a width or precision over 99")


def _dash(item: list, path: tuple) -> None:
    if not all(_number(v) and v >= 0 for v in item):
        return  # not a dash array (a scale range of patterns is walked item by item)
    if len(item) > MAX_DASH_ITEMS or (item and sum(item) < 1):
        _refuse(path, f"a dash pattern must have at most {MAX_DASH_ITEMS} lengths adding up to at least 1 pixel")
