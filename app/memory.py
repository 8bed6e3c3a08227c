"""Keep freed memory for reuse instead of handing it back to the kernel after every large request.

glibc's malloc serves allocations above a threshold (128 KiB, raised as large blocks are freed, up to
32 MiB) with fresh ``mmap`` pages, and gives the top of its heap back to the kernel once more than a
threshold lies free there. A scoring process allocates and frees the same large buffers over and over
(a 10 MB request body, its decoded pixels, a FITS stack the client builds), so each one came back as
fresh pages, every page faulted in and zeroed by the kernel again: on this project's 2-core virtual
machine that is about 5 ms for 10 MB, as much as copying it ten times (packing a 256-cutout stack in
the client: 17 ms, 3 ms with the memory kept; the service's Python work on a 256-cutout request: 38
-> 33 ms).

:func:`keep_freed_memory` sets both thresholds once per process (``mallopt``): blocks up to 32 MiB
come from the heap, and up to ``trim_mib`` of free heap is kept for the next request. The cost is a
resident size that stays up to that much above what is in use. Elsewhere than glibc (musl, macOS) it
does nothing. The service calls it at start-up (``LENSFINDER_MALLOC_KEEP_MIB``, 0 leaves glibc's
defaults), the command line in its process and in each reading process.

:func:`freeze_long_lived` is the same idea for Python's cycle collector: what a process has built once
it is ready to work (modules, model sessions, pydantic schemas; about 120,000 objects in the service)
lives as long as the process, yet every full collection walked it again. In the service those came
every few seconds under load, 50-100 ms each on the event loop (0.3-0.4 s of CPU per 10 s of stack
uploads, and the largest pause in a one-cutout request's latency); once frozen, 15-35 ms.
"""

from __future__ import annotations

import gc
import logging
import platform
from typing import Final

from app.cores import libc

log = logging.getLogger("lensfinder")

M_TRIM_THRESHOLD: Final = -1  # glibc malloc.h
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_MAX: Final = 32 << 20  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
DEFAULT_KEEP_MIB: Final = 256


def keep_freed_memory(trim_mib: int = DEFAULT_KEEP_MIB) -> bool:
    """Set glibc's malloc to keep up to ``trim_mib`` MiB of freed heap and to serve blocks up to 32 MiB
    from the heap; False (nothing changed) for ``trim_mib`` 0 or a C library other than glibc."""
    if trim_mib <= 0 or platform.libc_ver()[0] != "glibc":
        return False
    try:
        done = bool(libc().mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1)
        done = bool(libc().mallopt(M_TRIM_THRESHOLD, trim_mib << 20) == 1) and done
    except (OSError, AttributeError) as error:
        log.debug("malloc thresholds not set: %s", error)
        return False
    return done


def freeze_long_lived() -> int:
    """Move every object alive now out of the cycle collector's generations (``gc.freeze``), so that
    its full passes no longer walk them; call once a process has built what it keeps. Objects frozen
    are still freed when their last reference goes; only a reference cycle among them is kept for good
    (a few hundred objects at the service's start). Returns how many objects are frozen in all."""
    gc.freeze()
    return gc.get_freeze_count()
