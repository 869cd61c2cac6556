"""The inbox: users drop checkpoint files into ``warehouse/inbox/``; bad ones go to ``inbox/rejected/``."""
from __future__ import annotations

import os
from pathlib import Path

REJECTED = "rejected"


def pending_files(inbox: Path) -> list[Path]:
    """Regular files directly in the inbox (hidden and temporary files excluded), by name."""
    inbox.mkdir(parents=True, exist_ok=True)
    return sorted(p for p in inbox.iterdir() if p.is_file() and not p.name.startswith("."))


def reject(path: Path, reason: str) -> Path:
    """Move a bad file to ``rejected/`` with ``<name>.reason.txt`` beside it; return its new path."""
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    (folder / f"{path.name}.reason.txt").write_text(reason.strip() + "\n")
    os.replace(path, target)
    return target
