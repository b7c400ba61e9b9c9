"""Benchmarks of ecr-operator (``python -m bench --help``)."""
