"""Parallel inference streams: how many sessions and threads, and that every session scores alike."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from app.card import ModelCard
from app.cores import cgroup_cpu_limit
from app.inference.pool import SessionPool, StreamPlan, plan_decode_threads, plan_streams
from app.inference.providers import ProviderPlan
from tests.app.inference.test_session import raw_cutouts
from tests.app.service_helpers import SHIPPED

CPU = "CPUExecutionProvider"


@pytest.mark.parametrize(
    ("provider", "streams", "threads", "cores", "plan"),
    [
        (CPU, 0, 0, 2, StreamPlan(2, 1)),  # this project's machine: two 1-thread sessions
        (CPU, 0, 2, 2, StreamPlan(1, 2)),  # LENSFINDER_THREADS=2 alone: one 2-thread session, as before
        (CPU, 0, 0, 16, StreamPlan(4, 4)),
        (CPU, 0, 0, 1, StreamPlan(1, 1)),
        (CPU, 3, 0, 2, StreamPlan(3, 1)),  # as asked, at least one thread each
        (CPU, 2, 3, 2, StreamPlan(2, 3)),
        ("CUDAExecutionProvider", 0, 0, 16, StreamPlan(1, 0)),
        ("CUDAExecutionProvider", 2, 0, 16, StreamPlan(2, 0)),
    ],
)
def test_plan_streams(provider: str, streams: int, threads: int, cores: int, plan: StreamPlan) -> None:
    assert plan_streams(provider, streams, threads, cores) == plan


@pytest.mark.parametrize(
    ("providers", "setting", "cores", "threads"),
    [
        ({CPU}, 0, 2, 1),  # inference on the CPU: one decoding thread, whatever the cores
        ({CPU}, 0, 16, 1),
        ({CPU, "CUDAExecutionProvider"}, 0, 16, 1),  # one model on the CPU is enough
        ({"CUDAExecutionProvider"}, 0, 16, 4),  # cores free for decoding, up to 4
        ({"CUDAExecutionProvider"}, 0, 2, 2),
        ({CPU}, 3, 2, 3),  # LENSFINDER_DECODE_THREADS as set
        (set(), 0, 8, 1),
    ],
)
def test_plan_decode_threads(providers: set[str], setting: int, cores: int, threads: int) -> None:
    assert plan_decode_threads(providers, setting, cores) == threads


def test_every_session_of_a_pool_gives_the_same_scores_run_side_by_side() -> None:
    folder = SHIPPED / "space"
    card = ModelCard.load(folder / "model.json")
    pool = SessionPool.open(folder, card, ProviderPlan("cpu", 1024), max_batch=8, streams=3, threads=1)
    assert (pool.streams, pool.threads, len(pool.sessions)) == (3, 1, 3) and not pool.warmed
    pool.warm_up(repeats=1)
    assert pool.warmed and pool.provider == CPU and pool.sizes == (1, 2, 4, 8)
    x = raw_cutouts(8, 1, seed=4)
    each = [session.run(x) for session in pool.sessions]
    for scores in each[1:]:
        np.testing.assert_array_equal(scores, each[0])  # bit for bit
    with ThreadPoolExecutor(3) as threads:
        side_by_side = list(threads.map(pool.run, [x] * 9))
    for scores in side_by_side:
        np.testing.assert_array_equal(scores, each[0])


def test_a_container_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    v2, quota, period = tmp_path / "cpu.max", tmp_path / "quota", tmp_path / "period"
    absent = (tmp_path / "no-quota", tmp_path / "no-period")
    v2.write_text("400000 100000\n")
    assert cgroup_cpu_limit(v2, absent) == 4
    v2.write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2, absent) == 2  # 1.5 CPUs: rounded up
    v2.write_text("max 100000\n")
    assert cgroup_cpu_limit(v2, absent) is None
    quota.write_text("200000\n")
    period.write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "none", (quota, period)) == 2  # cgroup v1
    quota.write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path / "none", (quota, period)) is None
    assert cgroup_cpu_limit(tmp_path / "none", absent) is None
