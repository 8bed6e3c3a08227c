"""An asyncio micro-batcher per model: cutouts of concurrent requests share inference batches.

``submit(pixels)`` queues one request's cutouts (n, C, H, W) and returns a future of their scores
(n,) float32, in order. One worker task per model takes cutouts from the head of the queue into a
batch of up to ``max_batch`` rows, waiting at most ``max_wait_s`` after the oldest queued cutout
arrived for the batch to fill, and runs it in one of the model's ``streams`` inference threads (so
the event loop never blocks; app/inference/pool.py says why a CPU runs several streams). A request
larger than ``max_batch`` is split over several batches, which may then run side by side; several
small requests fill one. With ``exact_sizes`` (the session's padded sizes, on the CPU) a batch holds
exactly one of those sizes, the largest the queue fills: 9 queued cutouts go as a batch of 8 and, at
once, a batch of 1, rather than as 9 padded to 16 (on a CPU a padded row costs as much as a real one,
and the extra run costs less than a row).

The queue is bounded in cutouts: a submit that would take it past ``queue_limit`` raises
:class:`QueueFull` at once (the API answers 503 with Retry-After). A request whose future was
cancelled (its client went away, or its deadline passed while waiting) or whose deadline has passed
is dropped before inference: when its cutouts are taken from the queue, and again in the inference
thread when their batch's turn comes (up to ``streams + 1`` batches are handed to the threads at once,
so the next one starts without waiting for the event loop). ``close()`` stops accepting, finishes
everything queued (without waiting for batches to fill) and returns when the last batch is answered.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from app.cores import name_os_thread

log = logging.getLogger("lensfinder")

T = TypeVar("T")
Pixels = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]


class QueueFull(Exception):
    """The queue cannot take the request's cutouts now; ``retry_after_s`` estimates when it can."""

    def __init__(self, model: str, queued: int, wanted: int, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"the queue of model {model} holds {queued} cutouts; {wanted} more would pass its limit of "
            f"{limit}: retry in about {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


class BatcherClosed(Exception):
    """The batcher is draining for shutdown and takes no new work."""


class DeadlineExceeded(Exception):
    """A request's deadline passed before its cutouts reached inference."""


class BatchObserver(Protocol):
    """Receives what metrics need from each batch."""

    def batch_done(self, size: int, queue_waits_s: Sequence[float], inference_s: float) -> None: ...


@dataclass(eq=False)
class _Job:
    """One submit: ``taken`` rows handed to batches so far, ``answered`` rows scored so far."""

    pixels: Pixels
    future: asyncio.Future[Scores]
    deadline: float | None  # time.monotonic() seconds
    enqueued: float
    scores: Scores = field(init=False)
    taken: int = 0
    answered: int = 0

    def __post_init__(self) -> None:
        self.scores = np.empty(len(self.pixels), dtype=np.float32)

    @property
    def remaining(self) -> int:
        return len(self.pixels) - self.taken


Segment = tuple[_Job, int, int]  # rows [start, stop) of a job's pixels in a batch


class MicroBatcher:
    """Micro-batching for one model; ``run`` scores a batch (blocking), called from ``streams`` worker
    threads at once at most."""

    def __init__(
        self,
        name: str,
        run: Callable[[Pixels], Scores],
        *,
        max_batch: int,
        max_wait_s: float,
        queue_limit: int,
        observer: BatchObserver | None = None,
        streams: int = 1,
        exact_sizes: Sequence[int] | None = None,
    ) -> None:
        if max_batch < 1 or queue_limit < 1 or max_wait_s < 0 or streams < 1:
            raise ValueError(
                "max_batch, queue_limit and streams must be positive and max_wait_s not negative"
            )
        self.name = name
        self.max_batch = max_batch
        self.exact_sizes = sorted({size for size in exact_sizes or () if 1 <= size <= max_batch})
        self.max_wait_s = max_wait_s
        self.queue_limit = queue_limit
        self._run = run
        self._observer = observer
        self._jobs: deque[_Job] = deque()
        self._depth = 0  # cutouts queued and not yet in a batch
        self._wake = asyncio.Event()
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self.streams = streams
        self._executor = ThreadPoolExecutor(
            max_workers=streams, thread_name_prefix=f"infer-{name}", initializer=name_os_thread
        )
        self._rate = 0.0  # recent cutouts/s of inference, for Retry-After
        self._in_flight = 0

    @property
    def depth(self) -> int:
        """Cutouts waiting for a batch."""
        return self._depth

    @property
    def in_flight(self) -> int:
        """Batches handed to the inference threads and not yet answered (running or next in line)."""
        return self._in_flight

    @property
    def accepting(self) -> bool:
        return not self._closing

    def start(self) -> None:
        """Start the worker task (inside the running event loop)."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work(), name=f"batcher-{self.name}")
            self._worker.add_done_callback(self._worker_stopped)

    def _worker_stopped(self, task: asyncio.Task[None]) -> None:
        # A bug in the worker must not leave requests waiting forever: fail what is queued, loudly.
        if task.cancelled() or task.exception() is None:
            return
        log.error("model %s: the batch worker stopped", self.name, exc_info=task.exception())
        self._closing = True
        for job in self._jobs:
            if not job.future.done():
                job.future.set_exception(BatcherClosed(f"model {self.name}: the batch worker stopped"))
        self._jobs.clear()

    async def in_worker(self, call: Callable[[], T]) -> T:
        """Run ``call`` in one of the model's inference threads (warm-up runs where inference will)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def submit(self, pixels: Pixels, *, deadline: float | None = None) -> asyncio.Future[Scores]:
        """Queue ``pixels`` (n, C, H, W), n >= 1; a future of their scores (n,). Raises
        :class:`QueueFull` or :class:`BatcherClosed` at once. ``deadline`` is a time.monotonic() time."""
        if self._closing:
            raise BatcherClosed(f"model {self.name} is shutting down")
        n = len(pixels)
        if n < 1:
            raise ValueError("submit needs at least one cutout")
        if self._depth + n > self.queue_limit:
            raise QueueFull(self.name, self._depth, n, self.queue_limit, self.retry_after_s(n))
        future: asyncio.Future[Scores] = asyncio.get_running_loop().create_future()
        job = _Job(pixels, future, deadline, time.monotonic())
        future.add_done_callback(lambda _: self._release(job))
        self._jobs.append(job)
        self._depth += n
        self._wake.set()
        return future

    def retry_after_s(self, wanted: int = 1) -> int:
        """Whole seconds until the queue has likely drained enough for ``wanted`` more cutouts (1..60)."""
        excess = self._depth + wanted - self.queue_limit
        if self._rate <= 0.0 or excess <= 0:
            return 1
        return max(1, min(60, math.ceil(excess / self._rate)))

    async def close(self) -> None:
        """Stop accepting, finish every queued cutout, stop the worker and its thread."""
        self._closing = True
        self._wake.set()
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)  # _worker_stopped logged a failure
        await asyncio.to_thread(self._executor.shutdown, wait=True)

    # --- the worker -------------------------------------------------------------------------------

    def _release(self, job: _Job) -> None:
        """A job finished or was dropped: its rows not yet in a batch leave the queue count."""
        self._depth -= job.remaining
        job.taken = len(job.pixels)

    async def _work(self) -> None:
        # Up to streams + 1 batches are handed to the inference threads at once: one runs in each
        # thread, and the next waits in the executor's queue and starts the moment a thread is free,
        # without waiting for the event loop (busy reading bodies and writing answers) to come round
        # and dispatch it.
        slots = asyncio.Semaphore(self.streams + 1)
        running: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            self._in_flight -= 1
            slots.release()

        try:
            while True:
                self._prune()
                if not self._jobs:
                    if self._closing:
                        break
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await slots.acquire()
                await self._gather()  # a batch fills while the previous one runs
                segments = self._take()
                if not segments:
                    slots.release()
                    continue
                task = asyncio.get_running_loop().create_task(self._infer(segments))
                self._in_flight += 1
                running.add(task)
                task.add_done_callback(finished)
        finally:
            await asyncio.gather(*running, return_exceptions=True)

    async def _gather(self) -> None:
        """Wait until a full batch is queued, the oldest cutout has waited max_wait, or closing."""
        oldest = self._jobs[0].enqueued
        while self._depth < self.max_batch and not self._closing:
            left = oldest + self.max_wait_s - time.monotonic()
            if left <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except TimeoutError:
                return

    def _prune(self) -> None:
        """Drop finished (cancelled) and expired jobs from the head of the queue."""
        now = time.monotonic()
        while self._jobs:
            job = self._jobs[0]
            if job.future.done() or job.remaining == 0:
                self._release(job)
                self._jobs.popleft()
            elif job.deadline is not None and now > job.deadline:
                self._release(job)
                self._jobs.popleft()
                job.future.set_exception(DeadlineExceeded(f"model {self.name}: deadline passed in the queue"))
            else:
                return

    def _batch_rows(self) -> int:
        """How many rows the next batch takes: max_batch, or with exact sizes the largest of them that
        the queued rows fill (the queue may hold dropped jobs still: a batch then comes out smaller)."""
        if not self.exact_sizes:
            return self.max_batch
        queued = min(self._depth, self.max_batch)
        fitting = [size for size in self.exact_sizes if size <= queued]
        return fitting[-1] if fitting else self.exact_sizes[0]

    def _take(self) -> list[Segment]:
        """Up to :meth:`_batch_rows` rows from the head of the queue, skipping dropped and expired jobs."""
        segments: list[Segment] = []
        rows = 0
        limit = self._batch_rows()
        while rows < limit:
            self._prune()
            if not self._jobs:
                break
            job = self._jobs[0]
            k = min(job.remaining, limit - rows)
            segments.append((job, job.taken, job.taken + k))
            job.taken += k
            self._depth -= k
            rows += k
            if job.remaining == 0:
                self._jobs.popleft()
        return segments

    @staticmethod
    def _live(job: _Job) -> bool:
        # Read from the inference thread: Future.done() is one attribute read, and a value a moment
        # stale only means a request that left at that very instant is scored and then discarded.
        return not job.future.done() and (job.deadline is None or time.monotonic() <= job.deadline)

    def _run_live(self, segments: list[Segment]) -> tuple[list[Segment], Scores | None, list[float], float]:
        """In the inference thread, when the batch's turn comes: drop the segments whose request left
        or expired while the batch waited, score the rest. (live segments, scores, waits, seconds)."""
        live = [segment for segment in segments if self._live(segment[0])]
        if not live:
            return live, None, [], 0.0
        parts = [job.pixels[start:stop] for job, start, stop in live]
        batch = parts[0] if len(parts) == 1 else np.concatenate(parts)
        now = time.monotonic()
        waits = [now - job.enqueued for job, start, _ in live if start == 0]
        clock = time.perf_counter()
        scores = self._run(batch)
        return live, scores, waits, time.perf_counter() - clock

    async def _infer(self, segments: list[Segment]) -> None:
        try:
            live, scores, waits, elapsed = await self.in_worker(lambda: self._run_live(segments))
        except Exception as error:  # a failed batch fails its requests, never the worker
            for job, _, _ in segments:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        for job, _, _ in segments:
            if not job.future.done() and not self._live(job):
                job.future.set_exception(DeadlineExceeded(f"model {self.name}: deadline passed in the queue"))
        if scores is None:
            return
        rate = self.streams * len(scores) / max(elapsed, 1e-9)  # the streams run side by side
        self._rate = rate if self._rate == 0.0 else 0.8 * self._rate + 0.2 * rate  # smoothed over batches
        offset = 0
        for job, start, stop in live:
            job.scores[start:stop] = scores[offset : offset + stop - start]
            offset += stop - start
            job.answered += stop - start
            if job.answered == len(job.pixels) and not job.future.done():
                job.future.set_result(job.scores)
        if self._observer is not None:
            self._observer.batch_done(len(scores), waits, elapsed)
