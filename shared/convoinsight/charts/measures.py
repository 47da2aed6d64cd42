"""How a result column may be combined when the rest of a long category axis becomes "Other".

"Other" must be a true number. The sum of the rest is true for sums and counts (and for plain
values, which a bar or arc stacks anyway); the min of minima and the max of maxima are true too;
but a sum of averages, ratios or medians means nothing, so such columns get no "Other" bucket.
The manipulator's SQL says which is which: we read its outermost projection.
"""

from __future__ import annotations

from typing import Literal

Combine = Literal["sum", "min", "max"] | None


def combine_rules(sql: str | None) -> dict[str, Combine]:
    """``{output column: "sum" | "min" | "max" | None}`` for the columns the SQL names; {} when unknown.

    A column missing from the answer is combined by sum, which is what stacking marks show.
    """
    from convoinsight.charts.sql_projection import outer_select

    select = outer_select(sql)
    if select is None:
        return {}
    from sqlglot import exp  # loaded by outer_select already

    rules: dict[str, Combine] = {}
    for projection in select.expressions:
        name = projection.alias_or_name
        if name and name != "*":
            rules[name] = _rule(projection.unalias() if isinstance(projection, exp.Alias) else projection, exp)
    return rules


def _rule(node, exp) -> Combine:
    # Rounding or casting keeps the combination rule of what it wraps.
    while isinstance(node, exp.Round | exp.Cast | exp.Paren) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "round"):
        node = node.this if not isinstance(node, exp.Anonymous) else node.expressions[0]
    if isinstance(node, exp.Column):
        return "sum"
    if isinstance(node, exp.Sum):
        return "sum"
    if isinstance(node, exp.Count):
        # COUNT(DISTINCT x) of two groups does not add up: the same x may be in both.
        return None if isinstance(node.this, exp.Distinct) else "sum"
    if isinstance(node, exp.Min):
        return "min"
    if isinstance(node, exp.Max):
        return "max"
    return None
