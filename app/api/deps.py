"""Dependencies of the routes, as ``Annotated`` aliases.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
thread hop per request for what is an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.registry import ShippedModel
from app.service import Service
from app.telemetry import Telemetry


async def get_service(request: Request) -> Service:
    """The service the lifespan opened (``app.state.service``)."""
    service: Service = request.app.state.service
    return service


async def get_models(request: Request) -> dict[str, ShippedModel]:
    """The models the lifespan loaded (``app.state.models``)."""
    models: dict[str, ShippedModel] = request.app.state.models
    return models


async def get_telemetry(request: Request) -> Telemetry:
    """The app's metrics (``app.state.telemetry``), there before the lifespan starts."""
    telemetry: Telemetry = request.app.state.telemetry
    return telemetry


ServiceDep = Annotated[Service, Depends(get_service)]
ModelsDep = Annotated[dict[str, ShippedModel], Depends(get_models)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]
