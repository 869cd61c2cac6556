"""How many CPU threads torch may use: the cores this process may run on, or ``$NEURONINFO_THREADS``."""
from __future__ import annotations

import os


def available_cores() -> int:
    """``$NEURONINFO_THREADS`` if set (e.g. 1 per Dask worker or under load), else the cores in this process's affinity mask."""
    value = os.environ.get("NEURONINFO_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
