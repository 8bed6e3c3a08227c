"""The model cards: what each shipped model takes and what its score means (DESIGN section 4)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ModelsDep
from app.card import ModelCard

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", summary="The cards of every loaded model")
def list_models(models: ModelsDep) -> list[ModelCard]:
    return [model.card for model in models.values()]


@router.get(
    "/{name}",
    summary="One model's card",
    response_model=ModelCard,
    responses={404: {"description": "No model of that name; the body names the loaded ones"}},
)
def get_model(name: str, models: ModelsDep) -> ModelCard | JSONResponse:
    if name not in models:
        known = ", ".join(sorted(models)) or "none"
        return JSONResponse(
            status_code=404,
            content={"error": {"code": "unknown_model", "message": f"no model {name!r}; loaded: {known}"}},
        )
    return models[name].card
