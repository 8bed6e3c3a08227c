"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: every model is loaded and
warmed; 503 until then, and while draining at shutdown)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ServiceDep
from app.schemas import ModelReadiness, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Every model loaded and warmed: 200 naming each model's provider, else 503",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "Starting (warming up), failed or stopping"}},
)
def readyz(service: ServiceDep) -> JSONResponse:
    models = {
        name: ModelReadiness(
            version=runtime.model.card.identity.version,
            provider=runtime.session.provider,
            batch_sizes=list(runtime.session.sizes),
            warmed=runtime.session.warmed,
            streams=runtime.session.streams,
            threads=runtime.session.threads,
        )
        for name, runtime in service.runtimes.items()
    }
    if service.ready:
        status = "ready"
    elif service.warmup_error is not None:
        status = "failed"
    elif all(m.warmed for m in models.values()):
        status = "stopping"
    else:
        status = "starting"
    body = ReadyResponse(
        status=status, models=models, error=service.warmup_error, decode_threads=service.decode_threads
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if service.ready else 503)
