"""Parallel inference streams of one model: ``streams`` onnxruntime sessions, each run by its own thread.

Why several sessions on a CPU: one session with T intra-op threads splits every operator over T cores
and waits for the slowest at each step, so any other work on the machine (the service's own decoding,
statistics and HTTP handling, which share the cores) stalls all of them. S sessions of T/S threads
each run S batches side by side with no such barrier: on this project's 2-core machine two 1-thread
sessions score about as fast as one 2-thread session when idle, and much faster beside other work
(``bench/service_throughput.py`` measures both). A GPU gets one session: its kernels already fill it.

:func:`plan_streams` chooses the numbers from the settings and the cores this process may use.
:class:`SessionPool` has the interface of one :class:`~app.inference.session.ModelSession`; ``run`` is
called from at most ``streams`` threads at once (the batcher's inference threads), each taking a
free session, so a cutout's score never depends on which session scored it (same graph, same
options).
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.card import ModelCard
from app.cores import usable_cores
from app.inference.providers import CPU, ProviderPlan
from app.inference.session import ModelSession

MAX_AUTO_STREAMS = 4
MAX_AUTO_DECODE_THREADS = 4


def plan_decode_threads(providers: set[str], threads: int, cores: int | None = None) -> int:
    """The threads that decode uploads (``LENSFINDER_DECODE_THREADS``; 0 = automatic).

    Automatic: one where any model's inference runs on the CPU. Decoding, conforming and the
    out-of-distribution statistics hold the GIL for most of their time, so a second decoding thread
    gains little, while every thread contending for the GIL delays the inference threads, which need
    it to start and finish each batch (on this project's 2-core machine, one thread instead of six
    scores 8% more cutouts/s with 32 files per request and 20% more with one cutout per request,
    ``bench/service_throughput.py``). With every model on a GPU the cores are free for decoding: up to
    :data:`MAX_AUTO_DECODE_THREADS`, for the parts that release the GIL (inflating gzip, PNG, large
    numpy passes).
    """
    if threads > 0:
        return threads
    if not providers or CPU in providers:
        return 1
    return max(1, min(MAX_AUTO_DECODE_THREADS, cores or usable_cores()))


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """``streams`` sessions of ``threads`` intra-op threads each (0: onnxruntime's default)."""

    streams: int
    threads: int


def plan_streams(provider: str, streams: int, threads: int, cores: int | None = None) -> StreamPlan:
    """The streams and threads for a model on ``provider`` (``LENSFINDER_STREAMS``/``_THREADS``; 0 = auto).

    CPU, automatic: up to :data:`MAX_AUTO_STREAMS` streams sharing the cores, threads = cores / streams
    (2 cores: two 1-thread sessions; 16 cores: four 4-thread sessions). GPU: one stream unless set.
    """
    if provider != CPU:
        return StreamPlan(streams or 1, threads)
    cores = cores or usable_cores()
    if streams == 0:
        streams = min(MAX_AUTO_STREAMS, max(1, cores // (threads or 1)))
    if threads == 0:
        threads = max(1, cores // streams)
    return StreamPlan(streams, threads)


class SessionPool:
    """Sessions of one model behind the interface of one session (module docstring); ``threads``:
    the intra-op threads of each (0: onnxruntime's default)."""

    def __init__(self, sessions: list[ModelSession], threads: int = 0) -> None:
        if not sessions:
            raise ValueError("a session pool needs at least one session")
        first = sessions[0]
        self.sessions = sessions
        self.name, self.sizes, self.shape, self.provider = (
            first.name,
            first.sizes,
            first.shape,
            first.provider,
        )
        self.streams, self.threads = len(sessions), threads
        self._free: queue.SimpleQueue[ModelSession] = queue.SimpleQueue()
        for session in sessions:
            self._free.put(session)

    @classmethod
    def open(
        cls,
        directory: Path,
        card: ModelCard,
        plan: ProviderPlan,
        *,
        max_batch: int,
        streams: int = 0,
        threads: int = 0,
    ) -> SessionPool:
        """Open the model's sessions. The provider decides the stream plan: where only the CPU will be
        asked for, it is known beforehand; otherwise the first session tells which one started."""

        def session(threads: int) -> ModelSession:
            return ModelSession(directory, card, plan, max_batch=max_batch, threads=threads)

        if plan.providers() == [CPU]:
            chosen = plan_streams(CPU, streams, threads)
            first = session(chosen.threads)
        else:
            first = session(threads)
            chosen = plan_streams(first.provider, streams, threads)
            if chosen.threads != threads:  # CUDA did not start: the CPU's threads, in a new session
                first = session(chosen.threads)
        return cls([first] + [session(chosen.threads) for _ in range(chosen.streams - 1)], chosen.threads)

    @property
    def max_batch(self) -> int:
        return self.sizes[-1]

    @property
    def warmed(self) -> bool:
        return all(session.warmed for session in self.sessions)

    def size_for(self, n: int) -> int:
        return self.sessions[0].size_for(n)

    def run(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities (n,) of ``pixels`` (n, C, H, W) on a free session. Blocking."""
        session = self._free.get()
        try:
            return session.run(pixels)
        finally:
            self._free.put(session)

    def warm_up(self, repeats: int = 2) -> float:
        """Warm every session at every padded size; the seconds it took. Blocking."""
        return sum(session.warm_up(repeats) for session in self.sessions)
