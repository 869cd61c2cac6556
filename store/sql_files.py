"""The ``sql/`` folder (installed beside ``store/`` as package data): a model's text with its parameters."""
from __future__ import annotations

import re

import duckdb

from pipeline.sql_files import SQL, sql_text  # noqa: F401 - the one loader, re-exported for store's modules


def claims_sql() -> str:
    """Every claim model of ``sql/claims/`` (one SELECT each), joined for ``sql/views/claim_statistics.sql``."""
    files = sorted((SQL / "claims").glob("claim_*.sql"))
    return "\nUNION ALL BY NAME\n".join(f"({p.read_text().strip().rstrip(';')}\n)" for p in files)


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_words(text: str) -> set[str]:
    """The words of SQL ``text`` outside its comments and string literals."""
    data = text.encode()  # the tokenizer's offsets count bytes (a non-ASCII comment shifts characters)
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(data)]
    code = b" ".join(data[start:end] for (start, kind), end in zip(tokens, ends)
                     if kind not in (duckdb.token_type.comment, duckdb.token_type.string_const))
    return set(re.findall(r"\w+", code.decode()))
