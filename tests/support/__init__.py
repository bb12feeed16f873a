"""Helpers shared by the test suite and the benchmarks (no pytest imports here)."""
