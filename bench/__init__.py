"""Benchmarks (`make bench`). Numbers are printed, never asserted in tests."""
