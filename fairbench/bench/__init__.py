"""Benchmarks that measure a baseline in the same run and report ratios."""
