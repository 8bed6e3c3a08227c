"""The service in this process, without HTTP: ``lensfinder score`` and each Dask worker score through it.

:class:`LocalService` opens the service's own :class:`~app.service.Service` (cards checked, one
onnxruntime session and one micro-batcher per model, every batch size warmed) on an event loop in a
thread of its own, and answers requests with the service's own ``POST /classify`` logic
(:func:`app.scoring.classify.classify`): the same decoding, model choice, conforming, batching and
scoring, so its scores are the service's, bit for bit on the same provider. It is a
:class:`~app.client.transport.Transport`: the pipeline sends it the same FITS stacks the HTTP client
sends, and a request-level error comes back as the same :class:`~app.client.transport.Refusal`.

Settings come from the ``LENSFINDER_*`` environment variables as for the service, with overrides
(``models_dir``, ``device``, ``threads``, ...); the request deadline does not apply in-process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, Self, TypeVar

from app.client.pack import Part
from app.client.transport import Refusal, Reply
from app.config import Settings, load_settings
from app.scoring.classify import classify
from app.scoring.errors import ServiceError
from app.scoring.prepare import Upload
from app.service import Service
from app.telemetry import Telemetry

T = TypeVar("T")
NO_DEADLINE_S = 365 * 24 * 3600.0


def local_settings(**overrides: Any) -> Settings:
    """The service's settings from the environment, with ``overrides`` (None values are ignored)."""
    base = load_settings()
    values = {key: value for key, value in overrides.items() if value is not None}
    return Settings.model_validate(base.model_dump() | values) if values else base


class LocalService:
    """The service's models and scoring logic in this process (module docstring); ``close()`` when done."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lensfinder-local", daemon=True)
        self._thread.start()
        try:
            self.service: Service = self._call(self._open())
        except BaseException:
            self._stop_loop()
            raise

    async def _open(self) -> Service:
        service = Service.open(self.settings, Telemetry())
        await service.start()
        if not await service.wait_ready():
            await service.close()
            raise RuntimeError(f"the models could not be warmed: {service.warmup_error}")
        return service

    def _call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    @property
    def providers(self) -> dict[str, str]:
        """The onnxruntime provider of each model."""
        return {name: runtime.session.provider for name, runtime in self.service.runtimes.items()}

    async def _classify(self, parts: Sequence[Part], model: str | None, threshold: float | None) -> Reply:
        uploads = [Upload(part.name, part.data) for part in parts]
        deadline = time.monotonic() + NO_DEADLINE_S
        try:
            return await classify(self.service, uploads, model=model, threshold=threshold, deadline=deadline)
        except ServiceError as error:
            return Refusal(error.status, error.code, error.message, error.problems or [], error.retry_after_s)

    async def send(self, parts: Sequence[Part], model: str | None, threshold: float | None) -> Reply:
        """Score one request (from any event loop): the service's answer, or its refusal."""
        future = asyncio.run_coroutine_threadsafe(self._classify(parts, model, threshold), self._loop)
        return await asyncio.wrap_future(future)

    async def bands(self, model: str) -> tuple[str, ...] | None:
        """The bands ``model`` takes, in plane order; None when there is no such model."""
        runtime = self.service.runtimes.get(model)
        return None if runtime is None else tuple(runtime.model.card.input.bands)

    def close(self) -> None:
        """Drain the batchers and stop the loop thread."""
        try:
            self._call(self.service.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
