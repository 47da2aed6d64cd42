"""One module per business schema; see tests.analyst_sql.model for what each exposes."""
