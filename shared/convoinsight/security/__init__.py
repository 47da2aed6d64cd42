"""Secrets at rest (Fernet) and the SSRF guard for user-supplied hosts, shared by PostgreSQL sources and model
endpoints."""
