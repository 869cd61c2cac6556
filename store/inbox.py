"""The inbox: users drop checkpoint files into ``warehouse/inbox/``; bad ones go to ``inbox/rejected/``.

Folders and files are locations (store.paths): local paths or fsspec URLs.
"""
from __future__ import annotations

import os

from store.atomic import write_bytes
from store.paths import Location, join, list_files, location, makedirs, move, name_of, parent_of

REJECTED = "rejected"


def pending_files(inbox: Location | os.PathLike) -> list[Location]:
    """Regular files directly in the inbox (hidden and temporary files excluded), by name."""
    inbox = location(inbox)
    makedirs(inbox)
    return [join(inbox, name) for name in list_files(inbox) if not name.startswith(".")]


def reject(path: Location | os.PathLike, reason: str) -> Location:
    """Move a bad file to ``rejected/`` with ``<name>.reason.txt`` beside it; return its new path."""
    path = location(path)
    folder, name = join(parent_of(path), REJECTED), name_of(path)
    write_bytes(join(folder, f"{name}.reason.txt"), (reason.strip() + "\n").encode())
    target = join(folder, name)
    move(path, target)
    return target
