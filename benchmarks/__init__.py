"""Benchmarks for pipeline_core: ``make bench`` (``python -m benchmarks``)."""
