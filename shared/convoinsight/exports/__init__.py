"""Exports of conversations as documents (PDF): pure rendering, no services."""
