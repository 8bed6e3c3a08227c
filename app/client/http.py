"""The typed client of the lensfinder service: :class:`AsyncClient` (asyncio) and :class:`Client` (blocking).

>>> from app.client import Client
>>> with Client("http://localhost:8000") as lf:                  # doctest: +SKIP
...     lf.wait_ready()
...     rows = lf.classify(["a.fits", "stack.fits", image_array], model="space")
...     [(r.file, r.index, r.id, r.probability, r.error) for r in rows]

``classify`` takes file paths (FITS, gzip FITS, PNG; a file may hold a stack), arrays ((H, W), (C, H, W)
or a stack (N, C, H, W)) and sources (:mod:`app.client.sources`, e.g. a BLF band group), reads them
here with the service's decoder, sends them as FITS stacks (:mod:`app.client.pack`) with at most
``concurrency`` requests in flight, retries 503s after ``Retry-After`` (:mod:`app.client.transport`),
and returns one :class:`~app.client.rows.Row` per cutout in input order, failures included.
:class:`Client` runs an :class:`AsyncClient` on an event loop in a thread of its own, so it works in
scripts and in notebooks (whose own loop is already running) alike.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
import numpy as np
import numpy.typing as npt
from anyio.from_thread import BlockingPortal, start_blocking_portal

from app.client.pack import Limits
from app.client.pipeline import Options, Pipeline
from app.client.rows import Row
from app.client.sources import ArraySource, BandGroup, FileSource, Source, array_sources
from app.client.transport import HttpTransport, RetryPolicy, ServiceUnreachable
from app.schemas import ReadyResponse

if TYPE_CHECKING:  # the card's pydantic models take a tenth of a second to build: only models() needs them
    from app.card import ModelCard

Item = str | os.PathLike[str] | npt.NDArray[np.floating] | Source
DEFAULT_URL = "http://localhost:8000"


def to_sources(items: Iterable[Item]) -> list[Source]:
    """Paths become file sources, arrays array sources keyed ``array[k]``; sources pass through."""
    out: list[Source] = []
    arrays = 0
    for item in items:
        if isinstance(item, np.ndarray):
            made = array_sources([item], start=arrays)
            arrays += len(made)
            out.extend(made)
        elif isinstance(item, str | os.PathLike):
            out.append(FileSource(os.fspath(item)))
        elif isinstance(item, ArraySource | FileSource | BandGroup):
            out.append(item)
        else:
            raise TypeError(f"cannot score a {type(item).__name__}: give a path, an array or a source")
    return out


class AsyncClient:
    """An asyncio client of one service at ``url``; use ``async with`` or call :meth:`aclose`.

    ``concurrency``: requests in flight; ``request_cutouts``: cutouts per request (one FITS stack per
    kind of input); ``timeout_s``: per HTTP request; ``executor``: where files are read (None: the
    event loop's default threads; a process pool reads in parallel); ``http``: an httpx client to use
    instead of the default one (its ``base_url`` must be the service's).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        concurrency: int = 4,
        request_cutouts: int = 256,
        timeout_s: float = 300.0,
        retry: RetryPolicy | None = None,
        executor: Executor | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._owns_http = http is None
        self.concurrency = concurrency
        self.limits = Limits(max_cutouts=request_cutouts)
        self.retry = retry or RetryPolicy()
        self.executor = executor
        self.transport = HttpTransport(self.http)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self.http.aclose()

    def pipeline(self, model: str | None = None, threshold: float | None = None) -> Pipeline:
        """The pipeline this client scores through (for streaming many chunks, as the CLI does)."""
        options = Options(model, threshold, self.limits, concurrency=self.concurrency, retry=self.retry)
        return Pipeline(self.transport, options, self.executor)

    async def classify(
        self, items: Iterable[Item], *, model: str | None = None, threshold: float | None = None
    ) -> list[Row]:
        """One row per cutout of ``items``, in input order (module docstring)."""
        rows: list[Row] = []
        async for chunk in self.stream(to_sources(items), model=model, threshold=threshold):
            rows.extend(chunk)
        return rows

    async def stream(
        self, sources: Iterable[Source], *, model: str | None = None, threshold: float | None = None
    ) -> AsyncIterator[list[Row]]:
        """Rows chunk by chunk, in input order, as they are scored."""
        async for chunk in self.pipeline(model, threshold).stream(sources):
            yield chunk

    async def models(self) -> list[ModelCard]:
        """The cards of the service's models (``GET /models``)."""
        from app.card import ModelCard

        response = await self._get("/models")
        response.raise_for_status()
        return [ModelCard.from_dict(card) for card in response.json()]

    async def ready(self) -> ReadyResponse:
        """``GET /readyz``: ``status`` is ``ready`` once every model is warm (the answer is 503 before)."""
        response = await self._get("/readyz")
        return ReadyResponse.model_validate_json(response.content)

    async def wait_ready(self, timeout_s: float = 120.0, poll_s: float = 0.25) -> ReadyResponse:
        """Poll ``/readyz`` until ready; TimeoutError (with the last status) after ``timeout_s``."""
        end = time.monotonic() + timeout_s
        last = "unreachable"
        while time.monotonic() < end:
            try:
                answer = await self.ready()
            except (ServiceUnreachable, ValueError):
                answer = None
            if answer is not None and answer.status == "ready":
                return answer
            last = answer.status if answer is not None else last
            await asyncio.sleep(poll_s)
        raise TimeoutError(f"{self.http.base_url} not ready after {timeout_s:g} s (last status: {last})")

    async def _get(self, path: str) -> httpx.Response:
        return await self.transport.request("GET", path)


class Client(AbstractContextManager["Client"]):
    """The blocking client: the same calls as :class:`AsyncClient` (same arguments), run on an event
    loop in a thread of its own. Use ``with`` or call :meth:`close`."""

    def __init__(self, url: str = DEFAULT_URL, **options: Any) -> None:
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()
        try:
            self._async: AsyncClient = self._portal.call(self._make, url, options)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    @staticmethod
    async def _make(url: str, options: dict[str, Any]) -> AsyncClient:
        return AsyncClient(url, **options)

    @property
    def aio(self) -> AsyncClient:
        """The asyncio client underneath (its calls must run on this client's loop)."""
        return self._async

    def classify(
        self, items: Iterable[Item], *, model: str | None = None, threshold: float | None = None
    ) -> list[Row]:
        """One row per cutout of ``items``, in input order (see :meth:`AsyncClient.classify`)."""
        sources = to_sources(items)
        return self._portal.call(lambda: self._async.classify(sources, model=model, threshold=threshold))

    def models(self) -> list[ModelCard]:
        return self._portal.call(self._async.models)

    def ready(self) -> ReadyResponse:
        return self._portal.call(self._async.ready)

    def wait_ready(self, timeout_s: float = 120.0) -> ReadyResponse:
        return self._portal.call(self._async.wait_ready, timeout_s)

    def close(self) -> None:
        try:
            self._portal.call(self._async.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
