"""The ``sql/`` folder (package data installed beside pipeline/ and store/) and its templates."""
from pathlib import Path

SQL = Path(__file__).resolve().parent.parent / "sql"


def sql_text(name: str, **params) -> str:
    """The text of ``sql/<name>.sql`` with ``${key}`` replaced by ``params[key]``."""
    text = (SQL / f"{name}.sql").read_text()
    for key, value in params.items():
        text = text.replace("${" + key + "}", str(value))
    return text
