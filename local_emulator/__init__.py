"""Runs every function and every backing service offline on one machine (`make dev`)."""
