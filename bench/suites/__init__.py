"""Benchmark suites, one module per subsystem; each declares ``BENCHMARKS`` for bench/run.py."""
