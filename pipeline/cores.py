"""The cores this process may run on: its affinity mask, capped by a cgroup CPU quota (no torch here: the pair
engine and DuckDB connections size their threads by it too)."""
from __future__ import annotations

import math
import os
from pathlib import Path


def quota_cores(quota_us: int, period_us: int) -> int | None:
    """Cores a cgroup CPU quota allows (rounded up), or None for no quota (quota -1 or 'max')."""
    return None if quota_us <= 0 or period_us <= 0 else max(1, math.ceil(quota_us / period_us))


def available_cores() -> int:
    """The cores in this process's affinity mask, capped by its cgroup CPU quota (v2 or v1) if any."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota() -> int | None:
    for path in (Path("/sys/fs/cgroup/cpu.max"), Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")):
        try:
            if path.name == "cpu.max":
                quota, period = path.read_text().split()[:2]
                return quota_cores(-1 if quota == "max" else int(quota), int(period))
            period = (path.parent / "cpu.cfs_period_us").read_text()
            return quota_cores(int(path.read_text()), int(period))
        except (OSError, ValueError):
            continue
    return None
