"""The ASGI application ``app.main:app``: the app factory and its lifespan.

Start-up (before the server takes requests) loads and checks every model card and creates one
onnxruntime session and one batcher per model (app/service.py): a broken card or ONNX file, a models
folder without any model, or ``LENSFINDER_DEVICE=cuda`` without a working GPU stops it with a message
naming the file or setting (uvicorn then exits non-zero). Warm-up runs in the background: ``/readyz``
answers 503 until every batch size of every model is warm. At shutdown (uvicorn's SIGTERM handling
first finishes the requests in flight, then runs the lifespan exit) the batchers are drained, so every
accepted request is answered.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api import classify, errors, explain, health, metrics, models
from app.api.body_limit import BodyLimitMiddleware
from app.config import Settings, load_settings
from app.memory import keep_freed_memory
from app.service import NoModelsError, Service, StartupError
from app.telemetry import Telemetry

__all__ = ["NoModelsError", "StartupError", "app", "create_app"]

log = logging.getLogger("lensfinder")


def _configure_logging(level: str) -> None:
    # uvicorn configures only its own loggers; give ours a handler unless the host already did.
    log.setLevel(level.upper())
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application on ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    _configure_logging(settings.log_level)
    telemetry = Telemetry()

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        if keep_freed_memory(settings.malloc_keep_mib):
            log.info("malloc keeps up to %d MiB of freed memory for reuse", settings.malloc_keep_mib)
        try:
            service = Service.open(settings, telemetry)
        except Exception as error:
            log.error("start-up failed: %s", error)
            raise
        log.info("models loaded: %s", ", ".join(service.models))
        application.state.service = service
        application.state.models = service.models
        await service.start()
        try:
            yield
        finally:
            await service.close()

    application = FastAPI(
        title="lensfinder",
        version=__version__,
        summary="Strong gravitational lens finder: scores FITS and PNG cutouts with ONNX models",
        lifespan=lifespan,
    )
    application.state.telemetry = telemetry
    errors.install(application)
    # Added last is outermost: the byte limit answers before anything reads the body.
    application.add_middleware(errors.CatchAllMiddleware)
    application.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    for router in (classify.router, explain.router, models.router, health.router, metrics.router):
        application.include_router(router)
    return application


app = create_app()
