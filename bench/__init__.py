"""Benchmarks. Each module says what it measures and the command that reproduces it."""
