"""Where the command line reads files: a thread on a small machine, processes on a larger one."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from app.cli.run import make_executor, reading_workers


@pytest.mark.parametrize(("cores", "workers"), [(1, 0), (2, 0), (3, 2), (4, 3), (16, 4)])
def test_reading_workers_by_cores(cores: int, workers: int) -> None:
    assert reading_workers(cores) == workers


def test_zero_workers_is_one_reading_thread_and_more_are_processes() -> None:
    thread = make_executor(0)
    try:
        assert isinstance(thread, ThreadPoolExecutor) and thread._max_workers == 1
    finally:
        thread.shutdown()
    processes = make_executor(2)
    try:
        assert isinstance(processes, ProcessPoolExecutor) and processes._max_workers == 2
    finally:
        processes.shutdown()
