"""app.cores: the names the service's threads show the operating system."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.cores import name_os_thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names in /proc are Linux's")
def test_pool_threads_show_their_python_names_to_the_system() -> None:
    def comm() -> str:
        return Path(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/comm").read_text().strip()

    prefix = "infer-a-very-long-model"
    with ThreadPoolExecutor(1, thread_name_prefix=prefix, initializer=name_os_thread) as pool:
        assert pool.submit(comm).result() == "infer-a-very-lo"  # the first 15 bytes of its name
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as pool:
        assert pool.submit(comm).result() != "decode_0"  # without it the system never hears the name
