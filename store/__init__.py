"""Persistence for neuroninfo: warehouse paths, checkpoints, Zarr activations, Parquet tables, DuckDB."""
