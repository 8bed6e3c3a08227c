"""``POST /classify`` without HTTP: uploads in, one result per cutout out (DESIGN section 6).

1. The service must be ready (503 ``not_ready``); a model named in the query must be loaded (404
   ``unknown_model``). The request's model is the query's ``model``, else ``LENSFINDER_DEFAULT_MODEL``,
   else chosen from the input (:mod:`app.scoring.choose`).
2. Decode and conform every file in a worker thread (:func:`app.scoring.prepare.prepare`).
3. Nothing scoreable -> 422 ``nothing_to_score`` naming every problem. Otherwise the scoreable cutouts
   go to the model's batcher as one submit: all or nothing, so a full queue is 503 ``queue_full`` at
   once, and a request never holds part of the queue while waiting for the rest.
4. The deadline (``LENSFINDER_REQUEST_DEADLINE_S`` from the request's arrival) bounds the whole wait:
   past it the request leaves the queue and is answered 504 ``deadline_exceeded``.
5. Results in upload order; ``is_lens`` is ``lens_probability >= threshold`` (the query's
   ``threshold``, else the card's).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.card import ModelCard
from app.inference import batcher
from app.schemas import ClassifyResponse, CutoutFailure, CutoutResult, ModelRef, Notice, Problem
from app.scoring.errors import (
    DeadlineExceeded,
    NothingToScore,
    NotReady,
    QueueFullError,
    ServiceError,
    ShuttingDown,
    UnknownModel,
)
from app.scoring.prepare import Prepared, Upload, prepare
from app.service import Service

NOT_READY_RETRY_S = 2


@dataclass(slots=True)
class RequestLabel:
    model: str | None = None  # the request's model once known, for metrics


async def classify(
    service: Service,
    uploads: Sequence[Upload],
    *,
    model: str | None,
    threshold: float | None,
    deadline: float,
) -> ClassifyResponse:
    """Score ``uploads``; ``deadline`` is a time.monotonic() time. Raises :class:`ServiceError`."""
    label = RequestLabel()
    telemetry = service.telemetry
    try:
        with telemetry.in_progress.track_inprogress():
            response = await _classify(service, uploads, model, threshold, deadline, label)
    except ServiceError as error:
        telemetry.request(label.model, error.code)
        telemetry.error(error.code)
        for problem in error.problems or ():
            telemetry.error(problem.error.code)
        telemetry.items(label.model, 0, len(error.problems or ()))
        raise
    failures = [item for item in response.results if isinstance(item, CutoutFailure)]
    for failure in failures:
        telemetry.error(failure.error.code)
    scored = [item for item in response.results if isinstance(item, CutoutResult)]
    telemetry.warnings_of(label.model, (warning.code for item in scored for warning in item.warnings))
    telemetry.items(label.model, len(response.results) - len(failures), len(failures))
    telemetry.request(label.model, "partial" if failures else "scored")
    return response


async def _classify(
    service: Service,
    uploads: Sequence[Upload],
    model: str | None,
    threshold: float | None,
    deadline: float,
    label: RequestLabel,
) -> ClassifyResponse:
    check_model(service, model)
    label.model = model or service.settings.default_model
    chosen, prepared = await prepare_request(service, uploads, label, service.settings.max_cutouts)
    scores = await score_pixels(service, chosen, prepared.pixels, deadline)
    card = service.runtimes[chosen].model.card
    cut = card.output.threshold if threshold is None else threshold
    return ClassifyResponse(model=model_ref(card, cut), results=result_items(prepared, scores, cut))


def check_model(service: Service, model: str | None) -> None:
    """Raise 503 ``not_ready`` before warm-up ends, 404 ``unknown_model`` for a model not loaded."""
    if not service.ready:
        raise NotReady("the models are still warming up; retry shortly", retry_after_s=NOT_READY_RETRY_S)
    if model is not None and model not in service.runtimes:
        raise UnknownModel(f"no model {model!r}; loaded: {', '.join(sorted(service.runtimes))}")


async def prepare_request(
    service: Service, uploads: Sequence[Upload], label: RequestLabel, max_cutouts: int
) -> tuple[str, Prepared]:
    """Decode, choose the model (``label.model`` if set, and set to the choice) and conform, in a
    worker thread: (the model, the prepared files). 422 ``nothing_to_score`` naming every problem
    when no cutout can be scored."""
    cards = {name: runtime.model.card for name, runtime in service.runtimes.items()}
    prepared = await service.off_loop(
        prepare,
        uploads,
        cards,
        named=label.model,
        limits=service.settings.decode_limits(),
        max_cutouts=max_cutouts,
    )
    label.model = prepared.model
    if prepared.model is None or len(prepared.pixels) == 0:
        problems = result_items(prepared, None, 0.0)
        summary = "; ".join(
            f"{p.file}{'' if p.index is None else f'[{p.index}]'}: {p.error.code}"
            for p in problems
            if isinstance(p, CutoutFailure)
        )
        raise NothingToScore(
            f"no cutout of the request could be scored: {summary}",
            problems=[p for p in problems if isinstance(p, CutoutFailure)],
        )
    return prepared.model, prepared


async def score_pixels(
    service: Service, model: str, pixels: npt.NDArray[np.float32], deadline: float
) -> npt.NDArray[np.float32]:
    """Scores of ``pixels`` from the model's batcher, one submit (all or nothing in the queue);
    503 ``queue_full`` / ``shutting_down``, 504 ``deadline_exceeded``."""
    queue = service.runtimes[model].batcher
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded(_late(service, "while decoding"))
    try:
        future = queue.submit(pixels, deadline=deadline)
    except batcher.QueueFull as error:
        raise QueueFullError(str(error), retry_after_s=error.retry_after_s) from None
    except batcher.BatcherClosed:
        raise ShuttingDown(
            "the service is shutting down; retry on another instance", retry_after_s=1
        ) from None
    try:
        # wait_for cancels the future on timeout, and cancelling this coroutine (client gone) cancels
        # it too: either way the batcher drops the request's cutouts before inference.
        return await asyncio.wait_for(future, timeout=left)
    except (TimeoutError, batcher.DeadlineExceeded):
        raise DeadlineExceeded(_late(service, "waiting for inference")) from None
    except batcher.BatcherClosed as error:
        raise ShuttingDown(str(error), retry_after_s=1) from None


def _late(service: Service, where: str) -> str:
    limit = service.settings.request_deadline_s
    return f"the request passed its deadline of {limit:g} s {where}; retry, or send fewer cutouts per request"


def model_ref(card: ModelCard, threshold: float) -> ModelRef:
    return ModelRef(name=card.name, version=card.identity.version, threshold=threshold)


def result_items(
    prepared: Prepared, scores: npt.NDArray[np.float32] | None, threshold: float
) -> list[CutoutResult | CutoutFailure]:
    """One item per cutout (or per unusable file), in upload order; ``scores`` in pixel order."""
    items: list[CutoutResult | CutoutFailure] = []
    k = 0
    for file in prepared.files:
        if file.decoded is None:
            items.append(CutoutFailure(file=file.name, index=None, error=file.error or _unknown()))
            continue
        for meta in file.decoded.cutouts:
            if meta.error is not None:
                problem = Problem(code=meta.error.code, message=meta.error.message)
                items.append(CutoutFailure(file=file.name, index=meta.index, error=problem))
                continue
            if scores is None:
                continue
            probability = float(scores[k])
            k += 1
            if not np.isfinite(probability):
                problem = Problem(code="inference_failed", message="the model gave a non-finite score")
                items.append(CutoutFailure(file=file.name, index=meta.index, error=problem))
                continue
            items.append(
                CutoutResult(
                    file=file.name,
                    index=meta.index,
                    id=meta.id,
                    ra=meta.ra,
                    dec=meta.dec,
                    lens_probability=probability,
                    is_lens=probability >= threshold,
                    warnings=[Notice(code=w.code, message=w.message) for w in meta.warnings],
                )
            )
    return items


def _unknown() -> Problem:
    return Problem(code="internal_error", message="the file could not be used")
