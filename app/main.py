"""The ASGI application ``app.main:app``: the app factory and its lifespan.

Start-up loads and checks every model card (app/registry.py): a broken card stops it with a message
naming the file, and so does a models folder without any model (uvicorn then exits non-zero). The
scoring API (``POST /classify``) arrives with the service issue; today the service answers
``/healthz`` and ``/models``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.api import health, models
from app.config import Settings
from app.registry import load_models

log = logging.getLogger("lensfinder")


class NoModelsError(RuntimeError):
    """The models folder holds no model card: there is nothing to serve."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application; start-up fails clearly when no model is shipped."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        loaded = load_models(settings.models_dir)
        if not loaded:
            message = (
                f"no model to serve: {settings.models_dir} holds no <name>/model.json; train and export "
                "one (see the README) or point LENSFINDER_MODELS_DIR at a folder of models."
            )
            log.error(message)
            raise NoModelsError(message)
        log.info("models loaded: %s", ", ".join(loaded))
        application.state.models = loaded
        yield

    application = FastAPI(title="lensfinder", version=__version__, lifespan=lifespan)
    application.include_router(health.router)
    application.include_router(models.router)
    return application


app = create_app()
