"""``POST /explain`` without HTTP: one upload in, each cutout's probability and saliency map out.

The same path as ``/classify`` (:mod:`app.scoring.classify`): readiness and model checks, decoding,
model choice, conforming and the out-of-distribution warnings, 422 ``nothing_to_score``, the deadline
and the queue errors. Then, cutout by cutout, the method's perturbed copies (:mod:`app.explain.plan`)
go to the model's batcher as one submit (one large batch, split at the max batch size) and their
scores become the saliency map. Limits: one file per request, at most :data:`MAX_CUTOUTS` cutouts
(413 ``too_many_cutouts``), at most :data:`MAX_COPIES` copies per cutout and no more than the queue
holds (422 ``invalid_request``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from app.explain.lime import LimeParams, lime_plan
from app.explain.occlusion import OcclusionParams, count_copies, occlusion_plan
from app.explain.plan import Plan
from app.schemas import CutoutFailure, CutoutResult, ModelRef
from app.scoring.classify import (
    RequestLabel,
    check_model,
    model_ref,
    prepare_request,
    result_items,
    score_pixels,
)
from app.scoring.errors import InvalidRequest, ServiceError, TooManyFiles
from app.scoring.prepare import Prepared, Upload
from app.service import Service

Method = Literal["occlusion", "lime"]
MAX_CUTOUTS: Final = 16
MAX_COPIES: Final = 4096


@dataclass(frozen=True, slots=True)
class Explained:
    """One explained cutout: its classify result and its saliency map (H, W), rows in FITS order, the
    LIME superpixel labels (None for occlusion), and its conformed pixels (C, H, W) for an overlay."""

    result: CutoutResult
    saliency: npt.NDArray[np.float32]
    segments: npt.NDArray[np.int32] | None
    pixels: npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer: the model, its input format, the method and its parameters, and in upload order
    each explained cutout or failure."""

    model: ModelRef
    format: str
    bands: tuple[str, ...]
    method: Method
    parameters: dict[str, int | float]
    items: list[Explained | CutoutFailure]


def parameters_of(params: OcclusionParams | LimeParams) -> dict[str, int | float]:
    """The method's parameters as a flat mapping (for the response)."""
    return dict(asdict(params))


def _plan(method: Method, cutout: npt.NDArray[np.float32], params: OcclusionParams | LimeParams) -> Plan:
    if isinstance(params, OcclusionParams):
        return occlusion_plan(cutout, params)
    return lime_plan(cutout, params)


def _check_copies(
    service: Service, method: Method, params: OcclusionParams | LimeParams, shape: Sequence[int]
) -> None:
    copies = (
        count_copies(shape[-2], shape[-1], params) if isinstance(params, OcclusionParams) else params.samples
    )
    limit = min(MAX_COPIES, service.settings.queue_limit)
    if copies > limit:
        raise InvalidRequest(
            f"{method} with {parameters_of(params)} needs {copies} copies of each cutout; the "
            f"limit is {limit}: use a larger stride or patch, or fewer samples"
        )


async def explain(
    service: Service,
    uploads: Sequence[Upload],
    *,
    model: str | None,
    method: Method,
    params: OcclusionParams | LimeParams,
    threshold: float | None,
    deadline: float,
) -> Explanation:
    """Explain every cutout of the one upload; ``deadline`` is a time.monotonic() time. Raises
    :class:`ServiceError` (counted in the metrics, like every item error and warning)."""
    label = RequestLabel()
    telemetry = service.telemetry
    try:
        with telemetry.in_progress.track_inprogress():
            answer = await _explain(service, uploads, model, method, params, threshold, deadline, label)
    except ServiceError as error:
        telemetry.explanation(label.model, method, error.code)
        telemetry.error(error.code)
        for problem in error.problems or ():
            telemetry.error(problem.error.code)
        raise
    failures = [item for item in answer.items if isinstance(item, CutoutFailure)]
    for failure in failures:
        telemetry.error(failure.error.code)
    explained = [item.result for item in answer.items if isinstance(item, Explained)]
    telemetry.warnings_of(label.model, (warning.code for item in explained for warning in item.warnings))
    telemetry.explanation(label.model, method, "partial" if failures else "scored")
    return answer


async def _explain(
    service: Service,
    uploads: Sequence[Upload],
    model: str | None,
    method: Method,
    params: OcclusionParams | LimeParams,
    threshold: float | None,
    deadline: float,
    label: RequestLabel,
) -> Explanation:
    if len(uploads) != 1:
        raise TooManyFiles(
            f"/explain takes one file per request, got {len(uploads)}; send the others separately"
        )
    check_model(service, model)
    label.model = model or service.settings.default_model
    limit = min(MAX_CUTOUTS, service.settings.max_cutouts)
    chosen, prepared = await prepare_request(service, uploads, label, limit)
    runtime = service.runtimes[chosen]
    card = runtime.model.card
    _check_copies(service, method, params, prepared.pixels.shape)
    probabilities: list[float] = []
    maps: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int32] | None]] = []
    for cutout in prepared.pixels:
        plan = await service.off_loop(_plan, method, cutout, params)
        scores = await score_pixels(service, chosen, plan.copies, deadline)
        probability, saliency = await service.off_loop(plan.explain, scores)
        probabilities.append(probability)
        maps.append((saliency, plan.segments))
    cut = card.output.threshold if threshold is None else threshold
    items = _items(prepared, np.asarray(probabilities, dtype=np.float32), cut, maps)
    file = next(f.decoded for f in prepared.files if f.decoded is not None)
    return Explanation(
        model=model_ref(card, cut),
        format=file.format,
        bands=tuple(card.input.bands),
        method=method,
        parameters=parameters_of(params),
        items=items,
    )


def _items(
    prepared: Prepared,
    probabilities: npt.NDArray[np.float32],
    threshold: float,
    maps: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.int32] | None]],
) -> list[Explained | CutoutFailure]:
    """The classify items of the request, each scored one joined with its map and pixels."""
    out: list[Explained | CutoutFailure] = []
    k = 0
    for item in result_items(prepared, probabilities, threshold):
        if isinstance(item, CutoutFailure):
            if item.index is not None and item.error.code == "inference_failed":
                k += 1  # it had a pixel row and a map: skip both
            out.append(item)
            continue
        saliency, segments = maps[k]
        out.append(Explained(item, saliency, segments, prepared.pixels[k]))
        k += 1
    return out
