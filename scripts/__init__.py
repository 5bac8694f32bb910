"""Operator scripts: the ``zafka`` command line (``scripts.cli``), benchmarks, chaos runs."""
