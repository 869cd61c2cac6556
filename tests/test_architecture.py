"""The layout's import rule (docs/architecture.md): pipeline imports only pipeline; store imports
pipeline and store; flows may import anything; Prefect only in flows; sql/ holds no Python."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"pipeline": {"pipeline"}, "store": {"pipeline", "store"}, "flows": {"pipeline", "store", "flows", "sql"}}
PROJECT = {"pipeline", "store", "flows", "sql"}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_folder_imports_only_what_the_rule_allows(folder):
    for path in sorted((ROOT / folder).glob("*.py")):
        imported = imported_packages(path)
        assert imported & PROJECT <= ALLOWED[folder], (path.name, imported & PROJECT)
        if folder != "flows":
            assert "prefect" not in imported and "prefect_dask" not in imported, path.name


def test_sql_holds_no_python():
    assert not list((ROOT / "sql").rglob("*.py"))
