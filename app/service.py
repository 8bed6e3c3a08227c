"""The running service: every model's card, onnxruntime session and batcher, and its readiness.

:meth:`Service.open` runs at start-up, before the server takes requests: it loads and checks every
card, creates one session per model (a broken ONNX file, a graph that does not match its card, or
``LENSFINDER_DEVICE=cuda`` without a working CUDA provider stops start-up with a message naming the
file or the setting) and one batcher per model. :meth:`Service.start` starts the batchers and warms
every padded batch size of every model in the background; the service is ready (``/readyz`` 200)
once all of them are warm. :meth:`Service.close` (at shutdown) drains the batchers: every accepted
request is answered.

Blocking request work (decoding and conforming uploads, their out-of-distribution statistics, the
copies and maps of explanations) runs in the service's own decoding threads (:meth:`Service.off_loop`,
``LENSFINDER_DECODE_THREADS``), not in asyncio's default executor, whose many threads would contend
for the GIL with the inference threads (:func:`app.inference.pool.plan_decode_threads`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from app.config import Settings
from app.cores import name_os_thread
from app.decode import import_astropy
from app.inference.batcher import MicroBatcher
from app.inference.pool import SessionPool, plan_decode_threads
from app.inference.providers import CPU, ProviderPlan
from app.memory import freeze_long_lived
from app.registry import ShippedModel, load_models
from app.telemetry import Telemetry

log = logging.getLogger("lensfinder")
P = ParamSpec("P")
T = TypeVar("T")


class NoModelsError(RuntimeError):
    """The models folder holds no model card: there is nothing to serve."""


class StartupError(RuntimeError):
    """The settings do not fit the models found (for example an unknown default model)."""


@dataclass(frozen=True, slots=True)
class ModelRuntime:
    """One served model: its folder and card, its onnxruntime session and its batcher."""

    model: ShippedModel
    session: SessionPool
    batcher: MicroBatcher

    @property
    def name(self) -> str:
        return self.model.name


def _depth_of(batcher: MicroBatcher) -> Callable[[], int]:
    return lambda: batcher.depth


class Service:
    """Everything the routes need; build with :meth:`open`, then ``await start()`` ... ``close()``."""

    def __init__(self, settings: Settings, telemetry: Telemetry, runtimes: dict[str, ModelRuntime]) -> None:
        self.settings = settings
        self.telemetry = telemetry
        self.runtimes = runtimes
        self.models = {name: runtime.model for name, runtime in runtimes.items()}
        self.ready = False
        self.warmup_error: str | None = None
        self._warmup: asyncio.Task[None] | None = None
        providers = {runtime.session.provider for runtime in runtimes.values()}
        self.decode_threads = plan_decode_threads(providers, settings.decode_threads)
        self._decoder = ThreadPoolExecutor(
            max_workers=self.decode_threads, thread_name_prefix="decode", initializer=name_os_thread
        )

    @classmethod
    def open(cls, settings: Settings, telemetry: Telemetry) -> Service:
        """Load cards and sessions (blocking, at start-up); raises with a clear message on any fault."""
        models = load_models(settings.models_dir)
        if not models:
            raise NoModelsError(
                f"no model to serve: {settings.models_dir} holds no <name>/model.json; train and export "
                "one (see the README) or point LENSFINDER_MODELS_DIR at a folder of models."
            )
        if settings.default_model is not None and settings.default_model not in models:
            raise StartupError(
                f"LENSFINDER_DEFAULT_MODEL={settings.default_model!r} is not a loaded model; loaded: "
                f"{', '.join(sorted(models))}"
            )
        plan = ProviderPlan(settings.device, settings.gpu_mem_limit_mib)
        runtimes: dict[str, ModelRuntime] = {}
        for name, model in models.items():
            session = SessionPool.open(
                model.directory,
                model.card,
                plan,
                max_batch=settings.effective_max_batch,
                streams=settings.streams,
                threads=settings.threads,
            )
            batcher = MicroBatcher(
                name,
                session.run,
                max_batch=session.max_batch,
                max_wait_s=settings.effective_max_wait_s,
                queue_limit=settings.queue_limit,
                observer=telemetry.observer(name),
                streams=session.streams,
                # on the CPU a padded row costs what a real one does: batches of exactly the sizes
                exact_sizes=session.sizes if session.provider == CPU else None,
            )
            telemetry.add_model(name, model.card.identity.version, session.provider, _depth_of(batcher))
            log.info(
                "model %s %s: provider %s, %d stream(s) of %s thread(s), batch sizes %s, from %s",
                name,
                model.card.identity.version,
                session.provider,
                session.streams,
                session.threads or "default",
                ", ".join(map(str, session.sizes)),
                model.directory,
            )
            runtimes[name] = ModelRuntime(model, session, batcher)
        service = cls(settings, telemetry, runtimes)
        log.info("%d decoding thread(s)", service.decode_threads)
        return service

    async def off_loop(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call(*args, **kwargs)`` in one of the decoding threads (blocking work of a request)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decoder, functools.partial(call, *args, **kwargs))

    async def start(self) -> None:
        """Start every batcher and the background warm-up (inside the server's event loop)."""
        for runtime in self.runtimes.values():
            runtime.batcher.start()
        self._warmup = asyncio.get_running_loop().create_task(self._warm_up(), name="warm-up")

    async def _warm_up(self) -> None:
        try:
            await self.off_loop(import_astropy)  # not in the first requests that need it
            for runtime in self.runtimes.values():
                seconds = await runtime.batcher.in_worker(runtime.session.warm_up)
                log.info(
                    "model %s warmed in %.2f s (batch sizes %s)", runtime.name, seconds, runtime.session.sizes
                )
        except Exception as error:  # the service stays unready and says why (/readyz)
            self.warmup_error = f"warm-up failed: {type(error).__name__}: {error}"
            log.exception("warm-up failed; the service stays not ready")
            return
        # what start-up built (models, sessions, modules) lives as long as the process (app/memory.py)
        log.debug("%d objects frozen out of the cycle collector's passes", freeze_long_lived())
        self.ready = True
        self.telemetry.ready.set(1)
        log.info("ready: %s", ", ".join(f"{r.name} on {r.session.provider}" for r in self.runtimes.values()))

    async def wait_ready(self) -> bool:
        """Wait for the warm-up to end; True when the service is ready."""
        if self._warmup is not None:
            await asyncio.shield(self._warmup)
        return self.ready

    async def close(self) -> None:
        """Stop the warm-up, then drain every batcher: queued requests are answered before it returns."""
        self.ready = False
        self.telemetry.ready.set(0)
        if self._warmup is not None and not self._warmup.done():
            self._warmup.cancel()
            await asyncio.gather(self._warmup, return_exceptions=True)
        await asyncio.gather(*(runtime.batcher.close() for runtime in self.runtimes.values()))
        await asyncio.to_thread(self._decoder.shutdown, wait=True)
        log.info("all batchers drained")
