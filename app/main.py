"""The ASGI application ``app.main:app``: the app factory and its lifespan.

The scoring API arrives with the service issue; until a model is shipped in ``models/``, start-up stops
with a message saying so (and uvicorn exits non-zero) rather than serving an API that cannot score.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.config import Settings

log = logging.getLogger("lensfinder")


class NoModelsError(RuntimeError):
    """The models folder holds no model card: there is nothing to serve."""


def find_model_cards(settings: Settings) -> list[str]:
    """Names of the model folders in ``settings.models_dir`` that hold a ``model.json`` card."""
    if not settings.models_dir.is_dir():
        return []
    return sorted(p.parent.name for p in settings.models_dir.glob("*/model.json"))


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application; start-up fails clearly when no model is shipped."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        names = find_model_cards(settings)
        if not names:
            message = (
                f"no model to serve: {settings.models_dir} holds no <name>/model.json. "
                "No model has been shipped yet in this version of lensfinder; train and export one "
                "(see the README) or point LENSFINDER_MODELS_DIR at a folder of models."
            )
            log.error(message)
            raise NoModelsError(message)
        log.info("models found: %s", ", ".join(names))
        yield

    return FastAPI(title="lensfinder", version=__version__, lifespan=lifespan)


app = create_app()
