"""The grounding check accepts exactly the numbers a result table supports, and prunes the rest."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convoinsight.analysis.grounding import NOTE, check_grounding
from convoinsight.llm.offline.planner import summarize

# Revenue by region: total 2,100; North's share 40.476%, East's 19.048%; North / West = 3.4.
REGIONS = (["region", "revenue"], ["string", "float"],
           [["North", 850.0], ["South", 600.0], ["East", 400.0], ["West", 250.0]])
# Dates, labels with digits and a fraction column.
CHANNELS = (["month", "channel", "orders", "conversion"], ["date", "string", "integer", "float"],
            [["2024-01-01", "Route 66", 120, 0.123], ["2024-02-01", "Q3 promo", 90, 0.2],
             ["2024-03-01", "Web", 150, 0.05]])
# Magnitudes for the formatting variants.
AMOUNTS = (["item", "amount"], ["string", "float"],
           [["a", 1234.5], ["b", 3214567.0], ["c", 1187.0], ["d", -4.0], ["e", 0.5]])


def check(text: str, table=REGIONS, complete: bool = True, row_count: int | None = None):
    columns, types, rows = table
    return check_grounding(text, [], columns, types, rows, len(rows) if row_count is None else row_count,
                           complete=complete)


def bases(text: str, table=REGIONS, **kw) -> list[str | None]:
    return [c.basis for c in check(text, table, **kw).checks]


# --- supported numbers, one basis at a time -------------------------------------------------------

@pytest.mark.parametrize(("text", "basis"), [
    ("North had 850 in revenue.", "cell"),
    ("West closed at 250.00.", "cell"),
    ("Revenue totals 2,100.", "total"),
    ("Revenue totals 2100.0 overall.", "total"),
    ("The average region made 525.", "mean"),
    ("The median is 500.", "median"),
    ("There are 4 regions.", "count"),
    ("The top 3 regions carry most revenue.", "rank"),
    ("North ranks 1st.", "rank"),
    ("North holds 40.5% of revenue.", "share"),
    ("North holds 40.48% of revenue.", "share"),
    ("North holds 40% of revenue.", "share"),
    ("North holds 40 percent of revenue.", "share"),
    ("West holds 11.9% of revenue.", "share"),
    ("South reaches 70.6% of North's level.", "share"),  # percentage of the maximum
    ("North is 450 ahead of East.", "difference"),
    ("The range from highest to lowest spans 600.", "cell"),  # max - min happens to be a cell here
    ("South beats East by 200.", "difference"),
    ("North is up 41.7% on South.", "change"),
    ("East is 33.3% below South.", "change"),  # relative to the other cell
    ("South is 50% above East.", "change"),
    ("North is 3.4 times West.", "ratio"),
    ("North is 3.4x West.", "ratio"),
    ("South is 1.5x East.", "ratio"),
])
def test_each_basis_is_recognised(text, basis):
    result = check(text)
    assert result.verified, result.checks
    assert bases(text) == [basis]


@pytest.mark.parametrize(("text", "basis"), [
    ("Orders peaked in 2024.", "year"),
    ("Route 66 sold best.", "label"),
    ("90 orders came from the Q3 promo.", "label"),
    ("Month 2 was the weakest.", "date"),
    ("Web converted 12.3% of visitors.", "cell"),  # a fraction column written as a percent
    ("On 2024-03-01 Web took 150 orders.", "cell"),  # the ISO date itself is not a measure
    ("Across the 360 orders, March led.", "total"),
])
def test_labels_dates_and_years(text, basis):
    result = check(text, CHANNELS)
    assert result.verified, result.checks
    assert bases(text, CHANNELS)[-1] == basis


@pytest.mark.parametrize("text", [
    "Item a is 1,234.50.", "Item a is 1234.5.", "Item a is about $1.2k.", "Item a is €1,234.5.",
    "Item b is $3.2M.", "Item b is 3.2 million.", "Item b is £3M.", "Item b is roughly 3,200,000.",
    "Item b is 3,214,567.", "Item b is $0.0032bn.",
    "Item d is -4.", "Item d fell by 4.", "Item e is 0.5.", "Item e is 0.50.",
])
def test_formatting_variants(text):
    result = check(text, AMOUNTS)
    assert result.verified, result.checks


def test_parsed_values_keep_what_was_written():
    checks = check("North: $1.2k, 12.5%, -4, 3.2 million, 2.3x and 1,234.50.").checks
    assert [(c.text, c.value, c.is_percent) for c in checks] == [
        ("$1.2k", 1200.0, False), ("12.5%", 12.5, True), ("-4", -4.0, False),
        ("3.2 million", 3_200_000.0, False), ("2.3x", 2.3, False), ("1,234.50", 1234.5, False)]


def test_rounding_follows_the_decimals_written():
    assert check("North holds 40.5% of revenue.").verified  # 40.476 to one decimal
    assert not check("North holds 40.0% of revenue.").verified  # one decimal written, so 40.5 was owed
    assert check("North holds 40% of revenue.").verified
    assert not check("North holds 40.47% of revenue.").verified  # truncated, not rounded: 40.48


# --- unsupported numbers --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "table"), [
    ("North had 9,999 in revenue.", REGIONS),  # invented
    ("Revenue totals 2,150.", REGIONS),  # a wrong total
    ("North holds 41% of revenue.", REGIONS),  # a wrong share: 40.48%
    ("North holds nearly 41% of revenue.", REGIONS),  # a hedge does not buy a percent extra rounding
    ("South had 620.", REGIONS),  # plausible, absent
    ("Revenue grew strongly in 2019.", REGIONS),  # a year no date or label mentions
    ("Orders peaked in 2019.", CHANNELS),
    ("North is 3.5 times West.", REGIONS),
    ("Item b is 3,200,000.", AMOUNTS),  # without a hedge, all seven digits are claimed
    ("Item b is $3.3M.", AMOUNTS),
    ("Item a is 1,234.6.", AMOUNTS),
])
def test_unsupported_numbers_are_caught(text, table):
    result = check(text, table)
    assert not result.verified and len(result.unsupported) == 1, result.checks


def test_rank_positions_need_a_rank_word_beyond_small_integers():
    columns, types = ["v"], ["integer"]
    rows = [[1000 + 7 * i] for i in range(40)]
    assert check_grounding("The top 25 values rise steadily.", [], columns, types, rows, 40).verified
    assert check_grounding("Row #31 stands out.", [], columns, types, rows, 40).verified
    assert not check_grounding("Exactly 31 values repeat.", [], columns, types, rows, 40).verified


# --- pruning --------------------------------------------------------------------------------------

def test_sentences_with_unsupported_numbers_are_removed():
    result = check_grounding("North leads with 850. It is 9,999 ahead of everyone, e.g. of East. West trails at 250.",
                             [], *REGIONS, 4)
    assert result.summary == "North leads with 850. West trails at 250."
    assert not result.verified and result.unsupported == ["9,999"]
    assert [c.supported for c in result.checks] == [True, False, True]


def test_summary_that_would_empty_keeps_its_text_with_a_note():
    result = check_grounding("Revenue was 9,999 in total.", [], *REGIONS, 4)
    assert result.summary == "Revenue was 9,999 in total." + NOTE
    assert not result.verified


def test_insights_with_unsupported_numbers_are_dropped():
    insights = ["North is 3.4 times West.", "East made 777.", "No numbers here.", "Top 2 hold 69.05% of revenue."]
    result = check_grounding("North leads with 850.", insights, *REGIONS, 4)
    assert result.summary == "North leads with 850."
    assert result.insights == ["North is 3.4 times West.", "No numbers here."]
    assert result.unsupported == ["777", "69.05%"]


def test_prose_without_numbers_is_verified():
    result = check_grounding("North leads.", ["West trails."], *REGIONS, 4)
    assert result.verified and result.checks == [] and result.insights == ["West trails."]


# --- partial tables -------------------------------------------------------------------------------

def test_incomplete_rows_disable_column_aggregates():
    for text in ["Revenue totals 2,100.", "North holds 40.5% of revenue.", "The average region made 525."]:
        assert check(text).verified
        assert not check(text, complete=False).verified, text
        assert not check(text, row_count=10).verified, text  # more rows exist than were given
    for text in ["North had 850.", "North is 450 ahead of East.", "North is up 41.7% on South.",
                 "North is 3.4x West.", "The 4 regions shown."]:
        assert check(text, complete=False).verified, text


# --- properties -----------------------------------------------------------------------------------

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
money = st.decimals(min_value=100, max_value=99999, places=2).map(float)


def _fmt(value: float, decimals: int, commas: bool) -> str:
    return f"{value:,.{decimals}f}" if commas else f"{value:.{decimals}f}"


def _candidates(values: list[float], percent: bool) -> list[float]:
    """Every value an independent, uncapped reading of the rules would accept."""
    total, n = sum(values), len(values)
    ordered = sorted(values)
    out = [*values, total, total / n, (ordered[(n - 1) // 2] + ordered[n // 2]) / 2]
    out += [abs(a - b) for a in values for b in values]
    if percent:
        out += [100 * v / total for v in values] + [100 * v / max(values) for v in values]
        out += [100 * abs(a - b) / b for a in values for b in values] + [v * 100 for v in values]
    else:
        out += [n, 2.0, *range(1, min(n, 10) + 1)]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(values=st.lists(money, min_size=2, max_size=8, unique=True), data=st.data())
def test_prose_from_real_figures_is_verified(values, data):
    rows = [[WORDS[i], v] for i, v in enumerate(values)]
    total = sum(values)
    parts = []
    for _ in range(data.draw(st.integers(1, 5))):
        kind = data.draw(st.sampled_from(["cell", "total", "share", "k"]))
        decimals, commas = data.draw(st.integers(0, 3)), data.draw(st.booleans())
        cur = data.draw(st.sampled_from(["", "$", "€"]))
        if kind == "share":
            v = data.draw(st.sampled_from(values))
            parts.append(f"{WORDS[values.index(v)]} holds {_fmt(100 * v / total, decimals, commas)}% of it.")
        elif kind == "k":
            parts.append(f"The total is about {cur}{_fmt(total / 1000, decimals, commas)}k.")
        else:
            v = total if kind == "total" else data.draw(st.sampled_from(values))
            parts.append(f"One figure is {cur}{_fmt(v, decimals, commas)}.")
    result = check_grounding(" ".join(parts), [], ["name", "amount"], ["string", "float"], rows, len(rows))
    assert result.verified, (parts, result.unsupported)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(values=st.lists(money, min_size=2, max_size=8, unique=True), data=st.data())
def test_a_number_perturbed_beyond_its_rounding_is_never_verified(values, data):
    rows = [[WORDS[i], v] for i, v in enumerate(values)]
    total = sum(values)
    percent = data.draw(st.booleans())
    true = 100 * data.draw(st.sampled_from(values)) / total if percent else \
        data.draw(st.sampled_from([*values, total]))
    decimals = data.draw(st.integers(0, 2))
    unit = 10.0 ** -decimals
    # At least 1.5 units of the last digit away from the truth: beyond any rounding of it.
    written = round(true, decimals) + data.draw(st.sampled_from([-1, 1])) * data.draw(st.integers(2, 40)) * unit
    assume(written > 0)
    assume(all(abs(c - written) > unit for c in _candidates(values, percent)))  # no other true figure
    text = f"It came to {_fmt(written, decimals, data.draw(st.booleans()))}{'%' if percent else ''}."
    result = check_grounding(text, [], ["name", "amount"], ["string", "float"], rows, len(rows))
    assert not result.verified, (text, result.checks)


# --- the offline planner's summaries pass -------------------------------------------------------

def _cols(*pairs: str) -> list[dict]:
    return [{"name": p.split(":")[0], "dtype": p.split(":")[1]} for p in pairs]


PLANNER_CASES = [
    ("Total revenue by region", _cols("region:string", "total_revenue:float"),
     [["West", 32416.54], ["East", 31560.91], ["North", 31000.0], ["South", 30935.2]]),
    ("Bottom 3 regions by revenue", _cols("region:string", "total_revenue:float"),
     [["South", 30935.2], ["North", 31000.0], ["East", 31560.91]]),
    ("Which carrier has the most flights?", _cols("carrier:string", "flights:integer"),
     [["UA", 34450], ["B6", 12000], ["9E", 4811], ["EV", 3317]]),
    ("average departure delay by carrier", _cols("carrier:string", "avg_dep_delay:float"),
     [["F9", 20.2155], ["EV", 19.955390334572492], ["YV", 18.996330], ["9E", 16.7258]]),
    ("monthly revenue", _cols("month:date", "total_revenue:float"),
     [[f"2024-{m:02d}-01", str(1000.5 + 37.25 * m * (-1) ** m)] for m in range(1, 13)]),
    ("flights per hour", _cols("hour:datetime", "flights:integer"),
     [[f"2013-01-01T{h:02d}:00:00", 10 + (h * 7) % 13] for h in range(5, 20)]),
    ("What is the total revenue?", _cols("total_revenue:float"), [[1234567.891]]),
    ("total units by region and product", _cols("region:string", "product:string", "total_units:integer"),
     [["North", "Gadget", 812], ["North", "Widget", 640], ["South", "Gizmo", 577], ["East", "Widget", 512]]),
    ("top 5 orders by revenue", _cols("order_date:date", "region:string", "units:integer", "revenue:float"),
     [["2023-05-02", "West", 20, 527.18], ["2024-11-30", "North", 20, 523.9], ["2023-01-17", "East", 19, 500.2],
      ["2024-02-29", "South", 19, 498.0], ["2023-08-08", "West", 18, 490.77]]),
    ("number of flights by month", _cols("month:integer", "flights:integer"),
     [[m, 27000 + 113 * m] for m in range(1, 13)]),
]


@pytest.mark.parametrize(("question", "columns", "rows"), PLANNER_CASES, ids=[c[0] for c in PLANNER_CASES])
def test_offline_planner_summaries_are_verified(question, columns, rows):
    out = summarize(question, columns, rows, len(rows))
    result = check_grounding(out["summary"], out["insights"], [c["name"] for c in columns],
                             [c["dtype"] for c in columns], rows, len(rows))
    assert result.verified, (out, result.unsupported)


def test_offline_planner_partial_averages_are_verified():
    columns, rows = PLANNER_CASES[3][1], PLANNER_CASES[3][2]
    out = summarize("average departure delay by carrier", columns, rows, 16)
    assert check_grounding(out["summary"], out["insights"], ["carrier", "avg_dep_delay"], ["string", "float"],
                           rows, 16, complete=False).verified


def test_offline_planner_partial_results_are_verified():
    columns, rows = PLANNER_CASES[0][1], PLANNER_CASES[0][2]
    out = summarize("Total revenue by region", columns, rows, 12)
    assert check_grounding(out["summary"], out["insights"], ["region", "total_revenue"], ["string", "float"],
                           rows, 12, complete=False).verified


# --- a large table (its timing is measured in bench/, never asserted here) ---------------------------

def wide_table_case():
    rng = random.Random(7)
    types = ["integer", "float", "string", "date"] * 5
    columns = [f"c{i}" for i in range(20)]
    rows = [[rng.randint(0, 10**5) if t == "integer" else round(rng.uniform(-500, 10**5), 2) if t == "float"
             else f"label {rng.randint(1, 300)}" if t == "string"
             else (date(2020, 1, 1) + timedelta(days=rng.randrange(1500))).isoformat() for t in types]
            for _ in range(1000)]
    total = sum(r[1] for r in rows)
    summary = (f"The first value is {rows[0][1]:,.2f}, {100 * rows[0][1] / total:.2f}% of the {total:,.0f} total, "
               f"{abs(rows[0][1] - rows[9][1]):,.2f} from the tenth. There are 1,000 rows. A made-up 123,456.78.")
    insights = [f"The average is {total / 1000:,.1f}.", "Invented: 77,777.77 and 1000.1234%."]
    return summary, insights, columns, types, rows


def test_a_thousand_by_twenty_table_finds_exactly_the_invented_numbers():
    summary, insights, columns, types, rows = wide_table_case()
    result = check_grounding(summary, insights, columns, types, rows, 1000)
    assert result.unsupported == ["123,456.78", "77,777.77", "1000.1234%"]


def test_numbers_the_user_asked_about_may_be_echoed():
    rows = [["North", 120.0], ["South", 80.0]]
    args = (["region", "total"], ["string", "float"], rows, 2)
    assert not check_grounding("Totals for client 37 in 2019.", [], *args).verified
    assert check_grounding("Totals for client 37 in 2019.", [], *args,
                           question="total per region for client 37 in 2019").verified


# --- whole-result statistics (sql/stats.py): a truncated table checked against every row -------------------

# 1,095 rows of which 1,000 are shown; what the engine computed over all of them.
SHOWN = [[f"2021-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}", round(100 + (i + 1) % 7 * 1.37, 2)] for i in range(1000)]
WHOLE = {"row_count": 1095, "label": "day", "time": "day",
         "dimensions": [{"index": 0, "name": "day", "distinct": 1095}],
         "measures": [{"index": 1, "name": "revenue", "non_null": 1095, "total": 113_640.5, "min": 100.0,
                       "min_at": "2021-01-07", "max": 612.5, "max_at": "2023-11-17", "mean": 103.78, "median": 103.5,
                       "top": [{"label": "2023-11-17", "value": 612.5, "share_pct": 0.54}],
                       "first": {"at": "2021-01-01", "value": 101.37}, "last": {"at": "2023-12-31", "value": 104.11},
                       "change": 2.74, "change_pct": 2.7, "trend": "flat"}]}
PREFIX_TOTAL = sum(r[1] for r in SHOWN)


def whole(text: str, stats=WHOLE):
    return check_grounding(text, [], ["day", "revenue"], ["date", "float"], SHOWN, 1095, complete=False, stats=stats)


@pytest.mark.parametrize(("text", "basis"), [
    ("Revenue totalled 113,640.50.", "total"),
    ("It peaked at 612.5 on 2023-11-17.", "cell"),  # the maximum lies past the rows shown
    ("The mean day made 103.78.", "mean"),
    ("The median is 103.5.", "median"),
    ("The best day held 0.54% of revenue.", "share"),
    ("From first to last it rose 2.7%.", "change"),
    ("It ended at 104.11.", "cell"),
    ("The peak is 512.5 above the low.", "difference"),  # max - min, both whole-result values
    ("There are 1,095 days.", "count"),
])
def test_whole_result_statistics_verify(text, basis):
    result = whole(text)
    assert result.verified, result.checks
    assert [c.basis for c in result.checks if c.value not in (2023, 11, 17)] == [basis]


def test_figures_of_the_rows_shown_do_not_verify_as_the_result():
    for text in [f"Revenue totalled {PREFIX_TOTAL:,.2f}.", f"The mean day made {PREFIX_TOTAL / 1000:.3f}.",
                 "Over the 1,000 days revenue grew.", f"The first 50 days made {sum(r[1] for r in SHOWN[:50]):,.1f}."]:
        assert not whole(text).verified, text
        assert not whole(text, stats=None).verified, text
    # Without statistics the whole result's figures cannot be checked either: cells only.
    assert not whole("Revenue totalled 113,640.50.", stats=None).verified
    assert not whole("It peaked at 612.5.", stats=None).verified
    assert whole("One day made 106.85.", stats=None).verified
