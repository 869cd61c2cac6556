"""Integrity records and cheap checks of the warehouse's files.

Every Parquet partition file and every checkpoint gets a sidecar ``<file>.manifest.json`` when its stage
completes: the file's size, its SHA-256 and the parameters of the stage that wrote it (so a damaged
derived file can be recomputed the same way). The sidecar is written right after its file: a crash in
between leaves a file whose record is missing or stale, which ``verify`` reports and ``verify --repair``
recomputes.

The cheap check (size against the record, Parquet magic bytes at both ends) runs whenever views are
built, so one damaged file hides only its own run, and is reported, instead of breaking every query.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from store.atomic import write_bytes
from store.paths import Location, filesystem, is_url, read_bytes

MANIFEST_SUFFIX = ".manifest.json"
PARQUET_MAGIC = b"PAR1"
REPAIR = "run: neuroninfo verify --repair"  # the fix of every derivable file's problem
NO_RECORD = "no integrity record (not written by a neuroninfo stage, written by a crashed one, or the record was deleted)"


@dataclass(frozen=True)
class Problem:
    """One problem found in a warehouse: what, where, and what to do."""

    run_id: str | None
    kind: str  # a table name, 'checkpoint', 'activations' or 'warehouse'
    path: str
    problem: str
    fix: str

    def line(self) -> str:
        who = f"run {self.run_id}" if self.run_id else "warehouse"
        return f"{who}: {self.kind}: {self.problem} ({self.path}); {self.fix}"


def manifest_path(loc: Location) -> Location:
    return loc.with_name(loc.name + MANIFEST_SUFFIX) if not is_url(loc) else f"{loc}{MANIFEST_SUFFIX}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(loc: Location, data: bytes, params: dict | None = None, schema: str | None = None) -> None:
    """Write the sidecar of the file just written at ``loc`` with ``data`` (``schema``: ``schema_id`` of a Parquet
    file's schema, so the views can read files of one schema without opening each to bind)."""
    entry = {
        "size": len(data),
        "sha256": sha256_hex(data),
        "params": params or {},
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if schema:
        entry["schema"] = schema
    write_bytes(manifest_path(loc), json.dumps(entry, sort_keys=True).encode())


def schema_id(schema) -> str:
    """A short fingerprint of an Arrow schema's fields (names, types, nullability)."""
    return sha256_hex(str([(f.name, str(f.type), f.nullable) for f in schema]).encode())[:16]


def parse_record(raw: bytes | None) -> dict | None:
    """A sidecar's content, or None when it is missing or unreadable."""
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str) else None


def read_record(loc: Location) -> dict | None:
    try:
        return parse_record(read_bytes(manifest_path(loc)))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def cheap_parquet_problem(loc: Location, size: int | None, entry: dict | None) -> str | None:
    """Why a Parquet file fails the cheap check (a record, the size against it; local files: magic bytes), or None.
    A file without a record was not written by a stage (or its record was lost): it is never trusted as it is."""
    if size is None:
        return "file is missing"
    if entry is None:
        return NO_RECORD
    if entry["size"] != size:
        return f"size {size} bytes, recorded {entry['size']}"
    if size < 12:
        return f"only {size} bytes, too short for Parquet"
    if not is_url(loc):
        try:
            with open(loc, "rb") as f:
                head = f.read(4)
                f.seek(-4, os.SEEK_END)
                tail = f.read(4)
        except OSError as e:
            return f"cannot be read ({e.strerror})"
        if head != PARQUET_MAGIC or tail != PARQUET_MAGIC:
            return "not a whole Parquet file (magic bytes missing: truncated or overwritten)"
    return None


def deep_problem(loc: Location, data: bytes | None) -> str | None:
    """Why a file (its bytes ``data``; None when it could not be read) fails its full check (size and
    SHA-256 against its record), or None."""
    if data is None:
        return "file is missing"
    entry = read_record(loc)
    if entry is None:
        return NO_RECORD
    if entry["size"] != len(data):
        return f"size {len(data)} bytes, recorded {entry['size']}"
    if entry["sha256"] != sha256_hex(data):
        return "checksum differs from the recorded one (the file was changed or damaged)"
    return None


def file_sizes(folder: Location) -> dict[str, int]:
    """Every file below ``folder`` (recursively) -> its size, by path relative to ``folder``; one listing."""
    fs, path = filesystem(folder)
    fs.invalidate_cache(path)
    try:
        found = fs.find(path, detail=True)
    except FileNotFoundError:
        return {}
    base = path.rstrip("/") + "/"
    return {name[len(base):] if name.startswith(base) else name: int(info.get("size") or 0)
            for name, info in found.items() if info.get("type") == "file"}
