"""The scoring pipeline shared by the HTTP client, ``lensfinder score`` and the Dask workers.

Sources go in chunks (about one request's worth, :func:`chunked_by_size`); each chunk is read and
packed into requests in an executor (blocking work: the decoder and astropy, :func:`prepare_chunk`),
its requests are sent through a :class:`Transport` (HTTP, or the service in this process) with at most
``concurrency`` requests in flight over the whole pipeline, and its rows come back in input order.
:meth:`Pipeline.stream` keeps ``concurrency + 1`` chunks going at once (reading the next while the last
ones are scored) and yields each chunk's rows in input order, so a caller can write them as they come.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from app.client.load import load
from app.client.pack import Limits, Plan, Request, pack
from app.client.rows import Row, build_rows
from app.client.sources import ArraySource, FileSource, Source
from app.client.transport import Reply, RetryPolicy, Transport, send_with_retry
from app.decode import DecodeLimits
from app.decode.limits import DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class Options:
    """``model``/``threshold`` as the API's query (None: chosen from the input / the card's);
    ``limits`` per request; ``concurrency``: requests in flight; ``retry``: the 503 policy."""

    model: str | None = None
    threshold: float | None = None
    limits: Limits = field(default_factory=Limits)
    decode_limits: DecodeLimits = DEFAULT_LIMITS
    concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")


def prepare_chunk(
    sources: Sequence[Source],
    limits: Limits,
    decode_limits: DecodeLimits,
    named_model: bool,
    channels: int | None = None,
) -> Plan:
    """Read ``sources`` (as a model of ``channels`` bands takes them; None: as the service reads them when
    it chooses) and pack them into requests (blocking; a top-level function for process pools)."""
    whole = (limits.max_cutouts, limits.max_bytes)  # files that fit in one request travel undecoded
    loaded = [load(source, decode_limits, channels, whole) for source in sources]
    return pack(loaded, limits, named_model=named_model)


def chunked(sources: Iterable[Source], size: int) -> Iterable[list[Source]]:
    """Lists of ``size`` sources (the last shorter)."""
    iterator = iter(sources)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def source_bytes(source: Source) -> int:
    """The bytes a source occupies (file sizes; 0 when a file cannot be seen: reading will say why)."""
    if isinstance(source, ArraySource):
        return int(source.pixels.nbytes)
    paths = [source.path] if isinstance(source, FileSource) else [path for _, path in source.files]
    try:
        return sum(os.path.getsize(path) for path in paths)
    except OSError:
        return 0


def chunked_by_size(sources: Iterable[Source], max_count: int, max_bytes: int) -> Iterable[list[Source]]:
    """Lists of at most ``max_count`` sources and about ``max_bytes`` of files: a chunk of single-cutout
    files and a chunk holding one large stack file cost about the same to read and to send."""
    batch: list[Source] = []
    size = 0
    for source in sources:
        nbytes = source_bytes(source)
        if batch and (len(batch) >= max_count or size + nbytes > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(source)
        size += nbytes
    if batch:
        yield batch


class Pipeline:
    """Scores sources through ``transport``; ``executor`` reads them (None: the loop's default threads)."""

    def __init__(self, transport: Transport, options: Options, executor: Executor | None = None) -> None:
        self.transport = transport
        self.options = options
        self.executor = executor
        self._in_flight = asyncio.Semaphore(options.concurrency)
        self._bands: asyncio.Future[tuple[str, ...] | None] | None = None

    async def channels(self) -> int | None:
        """The band count of the model the options name (asked of the transport once), None when they
        name none or the scorer has no such model: files are then read as the service reads them."""
        if self.options.model is None:
            return None
        if self._bands is None:
            self._bands = asyncio.ensure_future(self.transport.bands(self.options.model))
        bands = await self._bands
        return None if bands is None else len(bands)

    async def _send(self, request: Request) -> Reply:
        async with self._in_flight:
            o = self.options
            return await send_with_retry(self.transport, request.parts, o.model, o.threshold, o.retry)

    async def score(self, sources: Sequence[Source]) -> list[Row]:
        """One row per cutout of ``sources``, in order (a file of N cutouts gives N rows)."""
        o = self.options
        loop = asyncio.get_running_loop()
        channels = await self.channels()
        plan = await loop.run_in_executor(
            self.executor,
            prepare_chunk,
            list(sources),
            o.limits,
            o.decode_limits,
            o.model is not None,
            channels,
        )
        replies = await asyncio.gather(*(self._send(request) for request in plan.requests))
        return build_rows(plan, replies)

    async def stream(self, sources: Iterable[Source]) -> AsyncIterator[list[Row]]:
        """Rows chunk by chunk, in input order; a chunk is about one request's worth of sources (at most
        ``limits.max_cutouts`` sources and a quarter of ``limits.max_bytes`` of files)."""
        limits = self.options.limits
        window: deque[asyncio.Task[list[Row]]] = deque()
        try:
            for batch in chunked_by_size(sources, limits.max_cutouts, limits.max_bytes // 4):
                window.append(asyncio.ensure_future(self.score(batch)))
                if len(window) > self.options.concurrency:
                    yield await window.popleft()
            while window:
                yield await window.popleft()
        finally:
            for task in window:
                task.cancel()
            if window:
                await asyncio.gather(*window, return_exceptions=True)
