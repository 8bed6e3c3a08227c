"""The micro-batcher with a stand-in model: batching, order, the bounded queue, drops, drain."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from app.inference.batcher import BatcherClosed, DeadlineExceeded, MicroBatcher, QueueFull

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Model:
    """Scores a cutout by its first pixel; records batch sizes; can be held to block inference."""

    def __init__(self) -> None:
        self.batches: list[list[float]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def __call__(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.entered.set()
        self.gate.wait(10)
        if self.fail:
            raise RuntimeError("boom")
        firsts = pixels.reshape(len(pixels), -1)[:, 0]
        self.batches.append([float(v) for v in firsts])
        return (firsts * 2).astype(np.float32)


class Observer:
    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.waits: list[float] = []

    def batch_done(self, size: int, queue_waits_s: Sequence[float], inference_s: float) -> None:
        self.sizes.append(size)
        self.waits.extend(queue_waits_s)


def cutouts(values: Sequence[float]) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1, 1) * np.ones((1, 1, 2, 2), np.float32)


def make(model: Model, **kwargs: float) -> MicroBatcher:
    options = {"max_batch": 4, "max_wait_s": 0.05, "queue_limit": 16} | kwargs
    return MicroBatcher(
        "m",
        model,
        max_batch=int(options["max_batch"]),
        max_wait_s=float(options["max_wait_s"]),
        queue_limit=int(options["queue_limit"]),
    )


async def held_batcher() -> tuple[Model, MicroBatcher, asyncio.Future[npt.NDArray[np.float32]]]:
    """A started batcher (no wait) whose model holds its first batch, one cutout of value 1, until
    ``model.gate`` is set: (model, batcher, that batch's future)."""
    model = Model()
    model.gate.clear()
    batcher = make(model, max_wait_s=0.0)
    batcher.start()
    blocker = batcher.submit(cutouts([1]))
    await asyncio.to_thread(model.entered.wait, 5)
    return model, batcher, blocker


async def test_concurrent_requests_share_batches_and_get_their_own_scores_in_order() -> None:
    model = Model()
    observer = Observer()
    batcher = MicroBatcher("m", model, max_batch=4, max_wait_s=0.05, queue_limit=16, observer=observer)
    batcher.start()
    futures = [batcher.submit(cutouts([10 * r + i for i in range(n)])) for r, n in enumerate([1, 2, 3, 6])]
    results = await asyncio.gather(*futures)
    for r, (n, scores) in enumerate(zip([1, 2, 3, 6], results, strict=True)):
        assert scores.tolist() == [2.0 * (10 * r + i) for i in range(n)]
    assert [len(b) for b in model.batches] == [4, 4, 4]  # 12 cutouts in full batches, a request split
    assert observer.sizes == [4, 4, 4] and len(observer.waits) == 4
    assert batcher.depth == 0
    await batcher.close()


@pytest.mark.parametrize(
    ("exact_sizes", "batches"),
    [
        (None, [11]),  # one batch of all that waited (a session pads it to its next size)
        ((1, 2, 4, 8, 16), [8, 2, 1]),  # the CPU: only full batches of the session's sizes
    ],
)
async def test_with_exact_sizes_a_batch_is_never_padded(
    exact_sizes: tuple[int, ...] | None, batches: list[int]
) -> None:
    model = Model()
    batcher = MicroBatcher("m", model, max_batch=16, max_wait_s=0.05, queue_limit=64, exact_sizes=exact_sizes)
    batcher.start()
    futures = [batcher.submit(cutouts([float(i)])) for i in range(11)]  # 11 one-cutout requests at once
    results = await asyncio.gather(*futures)
    assert [r.tolist() for r in results] == [[2.0 * i] for i in range(11)]
    assert [len(b) for b in model.batches] == batches
    await batcher.close()


async def test_a_lone_request_waits_at_most_max_wait() -> None:
    model = Model()
    batcher = make(model, max_wait_s=0.1)
    batcher.start()
    start = time.monotonic()
    scores = await batcher.submit(cutouts([3]))
    assert 0.09 <= time.monotonic() - start < 1.0
    assert scores.tolist() == [6.0]
    await batcher.close()


async def test_a_full_batch_goes_at_once() -> None:
    model = Model()
    batcher = make(model, max_wait_s=5.0)
    batcher.start()
    start = time.monotonic()
    await batcher.submit(cutouts([1, 2, 3, 4]))
    assert time.monotonic() - start < 1.0


async def test_the_queue_is_bounded_in_cutouts_and_refuses_at_once() -> None:
    model = Model()
    model.gate.clear()
    batcher = make(model, max_wait_s=0.0, queue_limit=8)
    batcher.start()
    first = batcher.submit(cutouts([1, 2, 3, 4]))
    await asyncio.to_thread(model.entered.wait, 5)  # taken into a batch: the queue is empty again
    queued = batcher.submit(cutouts(range(8)))
    assert batcher.depth == 8
    with pytest.raises(QueueFull, match="limit of 8") as info:
        batcher.submit(cutouts([1]))
    assert info.value.retry_after_s >= 1
    model.gate.set()
    assert (await first).tolist() == [2, 4, 6, 8]
    assert len(await queued) == 8
    await batcher.close()


async def _settle(batcher: MicroBatcher) -> None:
    """Let the worker take what it can (the batcher hands at most two batches to the thread)."""
    for _ in range(100):
        await asyncio.sleep(0.001)
        if batcher.depth == 0:
            return


async def test_cancelled_and_expired_requests_are_dropped_before_inference() -> None:
    model, batcher, blocker = await held_batcher()
    second = batcher.submit(cutouts([2]))  # handed to the thread, waits behind the blocker
    await _settle(batcher)
    gone = batcher.submit(cutouts([100, 101]))  # both slots busy: these stay in the queue
    late = batcher.submit(cutouts([200]), deadline=time.monotonic() + 0.01)
    kept = batcher.submit(cutouts([300]))
    gone.cancel()
    await asyncio.sleep(0)  # done callbacks run on the loop's next turn
    assert batcher.depth == 2  # a cancelled request leaves the queue count at once
    await asyncio.sleep(0.05)  # the deadline of ``late`` passes while the model is busy
    model.gate.set()
    await blocker
    assert (await second).tolist() == [4.0]
    assert (await kept).tolist() == [600.0]
    with pytest.raises(DeadlineExceeded):
        await late
    seen = [v for batch in model.batches for v in batch]
    assert seen == [1.0, 2.0, 300.0]
    assert batcher.depth == 0
    await batcher.close()


async def test_a_batch_waiting_for_the_thread_skips_requests_that_left() -> None:
    model, batcher, blocker = await held_batcher()
    gone = batcher.submit(cutouts([7]))
    late = batcher.submit(cutouts([8]), deadline=time.monotonic() + 0.01)
    kept = batcher.submit(cutouts([9]))
    await _settle(batcher)  # all three are in the batch handed to the thread behind the blocker
    assert batcher.depth == 0
    gone.cancel()
    await asyncio.sleep(0.05)  # late's deadline passes while its batch waits for the thread
    model.gate.set()
    await blocker
    assert (await kept).tolist() == [18.0]
    with pytest.raises(DeadlineExceeded):
        await late
    assert [v for batch in model.batches for v in batch] == [1.0, 9.0]
    await batcher.close()


async def test_close_drains_the_queue_then_refuses() -> None:
    model = Model()
    batcher = make(model, max_wait_s=10.0)  # close must not wait for batches to fill
    batcher.start()
    futures = [batcher.submit(cutouts([i])) for i in range(3)]
    start = time.monotonic()
    await batcher.close()
    assert time.monotonic() - start < 2.0
    assert [f.result().tolist() for f in futures] == [[0.0], [2.0], [4.0]]
    with pytest.raises(BatcherClosed):
        batcher.submit(cutouts([1]))


async def test_a_failed_batch_fails_its_requests_and_the_worker_goes_on() -> None:
    model = Model()
    batcher = make(model, max_wait_s=0.0)
    batcher.start()
    model.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        await batcher.submit(cutouts([1]))
    model.fail = False
    assert (await batcher.submit(cutouts([2]))).tolist() == [4.0]
    await batcher.close()


async def test_batching_off_runs_one_cutout_per_inference() -> None:
    model = Model()
    batcher = make(model, max_batch=1, max_wait_s=0.0)
    batcher.start()
    scores = await asyncio.gather(*(batcher.submit(cutouts([i, i + 0.5])) for i in range(3)))
    assert [s.tolist() for s in scores] == [[0, 1], [2, 3], [4, 5]]
    assert [len(b) for b in model.batches] == [1] * 6
    await batcher.close()


async def test_inference_runs_off_the_event_loop() -> None:
    model, batcher, future = await held_batcher()
    ticks = 0
    for _ in range(5):  # the loop keeps running while the model is blocked in its thread
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks == 5 and not future.done()
    model.gate.set()
    await future
    await batcher.close()


async def test_with_two_streams_two_batches_run_side_by_side_and_a_split_request_comes_back_whole() -> None:
    inside = threading.Barrier(2, timeout=5)  # passes only when two batches are in the model at once

    def model(pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        inside.wait()
        return pixels.reshape(len(pixels), -1)[:, 0] * np.float32(2)

    batcher = MicroBatcher("m", model, max_batch=4, max_wait_s=0.0, queue_limit=16, streams=2)
    batcher.start()
    scores = await batcher.submit(cutouts(list(range(8))))  # two batches of 4, answered together
    assert scores.tolist() == [2.0 * v for v in range(8)]
    await batcher.close()
    with pytest.raises(ValueError, match="streams"):
        MicroBatcher("m", model, max_batch=4, max_wait_s=0.0, queue_limit=16, streams=0)
