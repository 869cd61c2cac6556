"""Where everything lives in a warehouse (DESIGN "Warehouse")."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WAREHOUSE = "warehouse"


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def checkpoint(self, run_id: str) -> Path:
        return self.checkpoints / f"{run_id}.safetensors"

    def activations(self, run_id: str) -> Path:
        return self.root / "activations" / f"{run_id}.zarr"

    def partition(self, table: str, run_id: str) -> Path:
        """The hive partition directory of one run in one table."""
        return self.tables / table / f"run_id={run_id}"


def open_warehouse(path: str | os.PathLike | None = None) -> Warehouse:
    """The warehouse at ``path``, else ``$NEURONINFO_WAREHOUSE``, else ``./warehouse`` (created if missing)."""
    root = Path(path or os.environ.get("NEURONINFO_WAREHOUSE") or DEFAULT_WAREHOUSE).expanduser().resolve()
    for sub in ("checkpoints", "tables", "activations", "reports", "inbox"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return Warehouse(root)
