"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.registry import ShippedModel


def get_models(request: Request) -> dict[str, ShippedModel]:
    """The models the lifespan loaded (``app.state.models``)."""
    models: dict[str, ShippedModel] = request.app.state.models
    return models


ModelsDep = Annotated[dict[str, ShippedModel], Depends(get_models)]
