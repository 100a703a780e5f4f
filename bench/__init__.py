"""Openprod's benchmark suite: `python -m bench` from the repository root (see `--help`).

Benchmarks are not tests: they assert nothing about time. Each prints its figure and its ratio
against a reference measured in the same run, because this kind of machine is shared and noisy.
"""
