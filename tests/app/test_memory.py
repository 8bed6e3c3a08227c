"""keep_freed_memory: glibc's malloc thresholds set once per process, or nothing changed;
freeze_long_lived: what a process built is out of the cycle collector's passes."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from app.memory import keep_freed_memory


def test_zero_leaves_the_allocator_alone() -> None:
    assert keep_freed_memory(0) is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_on_glibc_the_thresholds_are_set_and_a_large_buffer_is_reused() -> None:
    # in a fresh process, so the test suite's own allocator is left as it was
    code = (
        "import time\n"
        "from app.memory import keep_freed_memory\n"
        "assert keep_freed_memory(64)\n"
        "def faults():\n"
        "    import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "bytearray(10 << 20)\n"  # the first time the pages are new
        "before = faults()\n"
        "for _ in range(5): bytearray(10 << 20)\n"
        "print(faults() - before)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # freed and allocated again five times: reused from the heap, not faulted in page by page (10 MiB
    # is 2,560 pages each time otherwise)
    assert int(run.stdout) < 500


def test_freezing_takes_what_is_alive_out_of_the_collectors_generations() -> None:
    code = (
        "import gc\n"
        "import app.main\n"  # what the service builds at start-up: many objects that live on
        "from app.memory import freeze_long_lived\n"
        "before = len(gc.get_objects())\n"
        "frozen = freeze_long_lived()\n"
        "print(before, frozen, len(gc.get_objects()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, frozen, after = map(int, run.stdout.split())
    assert before > 10_000 and frozen >= before and after < 100
