"""The CPU cores this process may use (its affinity mask, capped by a container's CPU quota), and the
names its threads show the operating system."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import math
import os
import sys
import threading
from pathlib import Path

PR_SET_NAME = 15  # linux/prctl.h; the name is at most 15 bytes

CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cgroup_cpu_limit(
    v2: Path = CGROUP_V2_CPU_MAX, v1: tuple[Path, Path] = (CGROUP_V1_QUOTA, CGROUP_V1_PERIOD)
) -> int | None:
    """Whole CPUs a container's CPU quota allows (cgroup v2 ``cpu.max``, else v1 ``cfs_quota_us``),
    rounded up; None without a quota (or off Linux)."""
    try:
        quota, _, period = v2.read_text().partition(" ")
        if quota.strip() == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us, period_us = (int(path.read_text()) for path in v1)
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else max(1, math.ceil(quota_us / period_us))


def usable_cores() -> int:
    """The CPU cores this process may use: its affinity mask (all cores where unknown), capped by a
    container's CPU quota, which the mask does not show (a 4-CPU limit on a 64-core host)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    return cores if limit is None else min(cores, limit)


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library, loaded once per process (``mallopt`` in app/memory.py, ``prctl`` here); OSError
    where it cannot be found or loaded."""
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def name_os_thread() -> None:
    """Give the calling thread's Python name (its first 15 bytes) to the operating system (Linux
    ``prctl(PR_SET_NAME)``), so that ``top -H``, ``ps -L`` and ``/proc/<pid>/task/<tid>/comm`` show which
    thread decodes (``decode_0``) and which runs inference (``infer-space_0``): what each costs is then
    a matter of reading /proc (``bench.service_throughput`` does). For the thread pools'
    ``initializer``; does nothing elsewhere than Linux, or where prctl fails."""
    if not sys.platform.startswith("linux"):
        return
    name = threading.current_thread().name.encode("ascii", "replace")[:15]
    with contextlib.suppress(OSError, AttributeError):
        libc().prctl(PR_SET_NAME, name, 0, 0, 0)
