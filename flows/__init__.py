"""Prefect flows and the ``neuroninfo`` command line: thin wiring of ``pipeline`` and ``store``."""
