"""The inbox: users drop checkpoint files into ``warehouse/inbox/``; each leaves it for ``done/`` or ``rejected/``.

Layout: ``rejected/`` and ``done/`` are reserved. A ``<file>.json`` or ``<file-stem>.json`` beside a
checkpoint is its sidecar and travels with it; a sidecar whose checkpoint has not arrived yet waits for it (so
a writer puts the sidecar first, then the checkpoint in one rename). Any other sub-folder (one level deep) is a batch of its
own: its ``spec.json`` (optional) applies to every file in it, each file is handled on its own and
leaves for that sub-folder's own ``done/`` or ``rejected/``. A rejected file gets ``<name>.reason.txt``
beside it. Hidden files and folders are ignored.
Folders and files are locations (store.paths): local paths or fsspec URLs.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from store.atomic import write_bytes
from store.paths import Location, entries, exists, join, location, makedirs, move, name_of, parent_of

REJECTED = "rejected"
DONE = "done"
RESERVED = (REJECTED, DONE)
FOLDER_SPEC = "spec.json"


@dataclass(frozen=True)
class InboxFile:
    path: Location
    sidecars: tuple[Location, ...] = field(default=())
    symlink: bool = False
    folder_spec: Location | None = None  # the sub-folder's spec.json, for a file in a sub-folder that has one


def pending_files(inbox: Location | os.PathLike) -> list[InboxFile]:
    """The files waiting in the inbox, by name, each with its sidecars, then those of each sub-folder (by
    folder name). A plain file squatting on a reserved folder name is moved aside (``<name>.file``) and
    offered like any other file."""
    inbox = location(inbox)
    makedirs(inbox)
    listed = entries(inbox)
    for name in RESERVED:
        if name in listed and listed[name]["type"] != "directory":
            aside = join(inbox, f"{name}.{uuid.uuid4().hex[:6]}.file")
            move(join(inbox, name), aside)
            listed[name_of(aside)] = dict(listed.pop(name), name=str(aside))
    found = _files_of(inbox, listed)
    for name in sorted(listed):
        entry = listed[name]
        if entry["type"] == "directory" and name not in RESERVED and not name.startswith(".") and not entry.get("islink"):
            found += _files_of(join(inbox, name), entries(join(inbox, name)),
                               sub_folder=True)
    return found


def _files_of(folder: Location, entries: dict[str, dict], sub_folder: bool = False) -> list[InboxFile]:
    """The pending files among one folder's entries (a sub-folder's ``spec.json`` is its spec, not a file)."""
    files = {n: e for n, e in entries.items() if e["type"] != "directory" and not n.startswith(".")}
    folder_spec = None
    if sub_folder and FOLDER_SPEC in files:
        files.pop(FOLDER_SPEC)
        folder_spec = join(folder, FOLDER_SPEC)
    sidecar_of = {}
    for name in files:
        if name.endswith(".json"):
            base = name[: -len(".json")]
            owner = base if base in files else next((n for n in sorted(files) if n != name and n.rsplit(".", 1)[0] == base), None)
            if owner is not None:
                sidecar_of[name] = owner
    return [
        InboxFile(join(folder, name), tuple(join(folder, s) for s, o in sorted(sidecar_of.items()) if o == name),
                  bool(files[name].get("islink")), folder_spec)
        for name in sorted(files) if name not in sidecar_of and not name.endswith(".json")  # a lone sidecar waits
    ]


def _free_name(folder: Location, name: str) -> str:
    """``name``, or ``name`` with a short suffix when ``folder`` already holds one."""
    return name if not exists(join(folder, name)) else f"{name}.{uuid.uuid4().hex[:6]}"


def _file_away(item: InboxFile, folder_name: str, note: str | None = None, note_suffix: str = ".reason.txt") -> Location:
    folder = join(parent_of(item.path), folder_name)
    makedirs(folder)
    name = _free_name(folder, name_of(item.path))
    if note is not None:
        write_bytes(join(folder, f"{name}{note_suffix}"), (note.strip() + "\n").encode())
    target = join(folder, name)
    move(item.path, target)
    for sidecar in item.sidecars:
        if exists(sidecar):
            move(sidecar, join(folder, _free_name(folder, name_of(sidecar))))
    return target


def reject(item: InboxFile, reason: str) -> Location:
    """Move a file (and its sidecars) to ``rejected/`` with ``<name>.reason.txt``; return its new path."""
    return _file_away(item, REJECTED, reason)


def finish(item: InboxFile, note: str | None = None) -> Location:
    """Move a processed file (and its sidecars) to ``done/`` (with ``<name>.note.txt`` when there is a note)."""
    return _file_away(item, DONE, note, ".note.txt")
