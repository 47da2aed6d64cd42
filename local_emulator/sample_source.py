"""A sample "customer" PostgreSQL database for `make dev`: what the README's sources walkthrough connects to.

Created in the PostgreSQL server `make dev` starts (database ``shop``, schema ``crm``, role
``analyst``), its connection details are written to ``LOCAL_STATE_DIR/sample-source.json`` so that
``curl -d @.local/sample-source.json`` registers it. The regions match the bundled sales.csv, so a
question can join the uploaded file with the live table.
"""

from __future__ import annotations

import json
from pathlib import Path

import pg8000.native

DATABASE, ROLE, PASSWORD = "shop", "analyst", "analyst-local-only"
SETUP = (
    "CREATE SCHEMA IF NOT EXISTS crm",
    "CREATE TABLE IF NOT EXISTS crm.regions (region text PRIMARY KEY, manager text NOT NULL, "
    "quarterly_target numeric(12,2) NOT NULL)",
    "INSERT INTO crm.regions VALUES ('North', 'Avery Chen', 60000), ('South', 'Bruno Diaz', 45000), "
    "('East', 'Chiara Rossi', 25000), ('West', 'Dev Patel', 15000) ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS crm.products (product text PRIMARY KEY, category text NOT NULL, "
    "unit_cost numeric(10,2) NOT NULL)",
    "INSERT INTO crm.products VALUES ('Widget', 'Hardware', 6.10), ('Gadget', 'Hardware', 18.40), "
    "('Gizmo', 'Accessories', 3.25), ('Doohickey', 'Accessories', 31.00) ON CONFLICT DO NOTHING",
    "ANALYZE crm.regions", "ANALYZE crm.products",
)


def ensure(port: int, state_dir: Path) -> Path:
    """Create the sample database once; return the file with its connection body."""
    admin = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=port, database="postgres")
    try:
        if not admin.run("SELECT 1 FROM pg_database WHERE datname = :d", d=DATABASE):
            admin.run(f'CREATE DATABASE "{DATABASE}"')
        if not admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=ROLE):
            admin.run(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    finally:
        admin.close()
    shop = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=port, database=DATABASE)
    try:
        for statement in SETUP:
            shop.run(statement)
        shop.run(f"GRANT USAGE, CREATE ON SCHEMA crm TO {ROLE}")
        shop.run(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA crm TO {ROLE}")
    finally:
        shop.close()
    body = {"name": "shop", "host": "127.0.0.1", "port": port, "database": DATABASE, "user": ROLE,
            "password": PASSWORD, "schema": "crm", "sslmode": "disable", "allow_writes": True}
    path = state_dir / "sample-source.json"
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path
