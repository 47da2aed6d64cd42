"""Analyst SQL corpus: business schemas, gold PostgreSQL queries, and tooling to compare the product against PostgreSQL.

    schemas/      one module per schema: NAME, TABLES (DDL + deterministic polars frames), QUERIES
    model.py      the Table and Query dataclasses and the data-building helpers
    postgres.py   load a schema into a fresh PostgreSQL database, run gold SQL
    compare.py    the JSON contract for result cells, and the product-vs-PostgreSQL comparator
    export.py     write a schema's tables as Parquet or CSV files, the way a data team uploads them
    check_gold.py self-check of the corpus against a PostgreSQL it starts itself
    classes.py    which feature classes a query exercises (coverage counts printed by check_gold)

`all_schemas()` returns the schema modules in a fixed order.
"""

from __future__ import annotations

from types import ModuleType


def all_schemas() -> list[ModuleType]:
    from tests.analyst_sql.schemas import hr, logistics, sales, subscriptions

    return [sales, hr, logistics, subscriptions]
