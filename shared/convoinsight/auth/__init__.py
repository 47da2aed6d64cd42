"""Verifiers behind ``AUTH_MODE``: Firebase ID tokens and API keys (``web/auth.py`` is the entry point).

Nothing here is imported at a function's cold start; google-auth and cryptography load on first use.
"""
