"""``POST /explain``: where the model looked. One file (FITS or PNG, a stack of up to 16 cutouts); for
each cutout its probability and a saliency map the size of the cutout, as JSON (the default) or as a
PNG of the cutouts with their maps laid over them (``Accept: image/png`` or ``?format=png``). The
logic is in :mod:`app.explain`; errors are those of ``/classify``."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app.api.classify import ModelQuery, ThresholdQuery, _unless_client_leaves
from app.api.deps import ServiceDep
from app.api.errors import ERROR_RESPONSE
from app.api.upload import read_uploads, upload_body
from app.explain.lime import LimeParams
from app.explain.occlusion import OcclusionParams
from app.explain.overlay import overlay_png
from app.explain.request import MAX_COPIES, Explained, Explanation, Method, explain
from app.schemas import CutoutFailure, ExplainedCutout, ExplainResponse
from app.scoring.errors import InvalidRequest, NothingToScore

router = APIRouter(tags=["explain"])

_UPLOAD_BODY = upload_body(
    {
        "type": "string",
        "format": "binary",
        "description": "one FITS (plain or gzip) or PNG file: a cutout or a stack of at most 16",
    }
)
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"image/png": {}},
        "description": "JSON (ExplainResponse), or with Accept: image/png or format=png a PNG: each "
        "cutout beside its saliency overlay (red: evidence for a lens, blue: against); headers "
        "X-Lensfinder-Model, X-Lensfinder-Cutouts (indices shown) and X-Lensfinder-Probabilities",
    }
}

MethodQuery = Annotated[
    Literal["occlusion", "lime"],
    Query(description="occlusion (sliding masked patch) or lime (random superpixel masks + ridge fit)"),
]
FormatQuery = Annotated[
    Literal["json", "png"] | None, Query(description="png: the overlay image; default: the Accept header")
]


@router.post(
    "/explain",
    summary="Saliency maps: where the model looked, for each cutout of one file",
    response_model=ExplainResponse,
    openapi_extra=_UPLOAD_BODY,
    responses={**PNG_RESPONSE, **{code: ERROR_RESPONSE for code in (400, 404, 413, 422, 503, 504)}},
)
async def explain_route(
    request: Request,
    service: ServiceDep,
    model: ModelQuery = None,
    method: MethodQuery = "occlusion",
    threshold: ThresholdQuery = None,
    format: FormatQuery = None,
    patch: Annotated[int, Query(ge=2, le=101, description="occlusion: patch side, pixels")] = 10,
    stride: Annotated[int, Query(ge=1, le=101, description="occlusion: step, pixels (<= patch)")] = 5,
    segments: Annotated[int, Query(ge=4, le=400, description="lime: superpixels wanted")] = 64,
    samples: Annotated[int, Query(ge=16, le=MAX_COPIES, description="lime: masked copies scored")] = 512,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="lime: random seed")] = 0,
    scale: Annotated[int, Query(ge=1, le=8, description="png: enlargement")] = 3,
) -> Response | ExplainResponse:
    deadline = time.monotonic() + service.settings.request_deadline_s
    params: OcclusionParams | LimeParams
    if method == "occlusion":
        if stride > patch:
            raise InvalidRequest(f"stride ({stride}) must not exceed patch ({patch}): pixels would be missed")
        params = OcclusionParams(patch=patch, stride=stride)
    else:
        params = LimeParams(segments=segments, samples=samples, seed=seed)
    uploads = await read_uploads(request, service.settings.max_files)
    chosen: Method = method
    work = explain(
        service, uploads, model=model, method=chosen, params=params, threshold=threshold, deadline=deadline
    )
    answer = await _unless_client_leaves(request, work)
    wants_png = format == "png" or (format is None and "image/png" in request.headers.get("accept", ""))
    return await service.off_loop(_png, answer, scale) if wants_png else _json(answer)


def _json(answer: Explanation) -> ExplainResponse:
    results: list[ExplainedCutout | CutoutFailure] = []
    for item in answer.items:
        if isinstance(item, CutoutFailure):
            results.append(item)
            continue
        results.append(
            ExplainedCutout(
                **item.result.model_dump(),
                saliency=np.round(item.saliency.astype(np.float64), 5).tolist(),
                segments=None if item.segments is None else item.segments.tolist(),
            )
        )
    return ExplainResponse(
        model=answer.model, method=answer.method, parameters=answer.parameters, results=results
    )


def _png(answer: Explanation, scale: int) -> Response:
    shown = [item for item in answer.items if isinstance(item, Explained)]
    if not shown:  # every cutout failed at inference: nothing to draw
        problems = [item for item in answer.items if isinstance(item, CutoutFailure)]
        raise NothingToScore("no cutout of the request could be explained", problems=problems)
    image = overlay_png(
        [(item.pixels, item.saliency) for item in shown], answer.format, answer.bands, scale=scale
    )
    headers = {
        "X-Lensfinder-Model": f"{answer.model.name} {answer.model.version}",
        "X-Lensfinder-Cutouts": ",".join(str(item.result.index) for item in shown),
        "X-Lensfinder-Probabilities": ",".join(f"{item.result.lens_probability:.6g}" for item in shown),
    }
    return Response(image, media_type="image/png", headers=headers)
