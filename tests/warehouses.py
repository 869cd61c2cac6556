"""Test helper: a private copy of a warehouse that a module built once, for a test to change."""
import shutil

from store.catalog import refresh_catalog
from store.lifecycle import prepare


def copied_warehouse(root, tmp_path):
    """A copy of the warehouse at ``root`` under ``tmp_path``, opened as a verb would (its catalog rebuilt)."""
    copy = tmp_path / "wh"
    shutil.copytree(root, copy)
    (copy / "catalog.duckdb").unlink(missing_ok=True)  # its views name the original folder
    wh = prepare(copy)
    refresh_catalog(wh)
    return wh
