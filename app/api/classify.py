"""``POST /classify``: score uploaded FITS and PNG cutouts (DESIGN section 6). The logic is in
:mod:`app.scoring`; this route reads the body, watches for the client leaving, and answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request

from app.api.deps import ServiceDep
from app.api.errors import ERROR_RESPONSE
from app.api.upload import read_uploads, upload_body
from app.schemas import ClassifyResponse
from app.scoring.classify import classify
from app.scoring.errors import ClientGone

T = TypeVar("T")
router = APIRouter(tags=["classify"])

# The body is read by hand (app/api/upload.py, for the limits and their error codes), so the form is
# described here for the OpenAPI docs.
_UPLOAD_BODY = upload_body(
    {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "FITS (plain or gzip) or PNG cutouts, stacks or cubes; recognised by their bytes, "
        "not their names",
    }
)

ModelQuery = Annotated[
    str | None,
    Query(description="A model name from /models; when absent, chosen from the input", examples=["space"]),
]
ThresholdQuery = Annotated[
    float | None,
    Query(ge=0.0, le=1.0, description="Overrides the card's threshold for is_lens", examples=[0.5]),
]


@router.post(
    "/classify",
    summary="Score cutouts: one result per cutout, in upload order",
    response_model=ClassifyResponse,
    openapi_extra=_UPLOAD_BODY,
    responses={code: ERROR_RESPONSE for code in (400, 404, 413, 422, 503, 504)},
)
async def classify_route(
    request: Request, service: ServiceDep, model: ModelQuery = None, threshold: ThresholdQuery = None
) -> ClassifyResponse:
    deadline = time.monotonic() + service.settings.request_deadline_s
    uploads = await read_uploads(request, service.settings.max_files)
    work = classify(service, uploads, model=model, threshold=threshold, deadline=deadline)
    return await _unless_client_leaves(request, work)


async def _unless_client_leaves(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; if the client disconnects first, cancel it (its cutouts leave the queue)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise ClientGone("the client closed the connection before the answer")
    finally:
        watcher.cancel()
        task.cancel()


async def _disconnected(request: Request) -> None:
    # The body has been read: the next message the server gives is http.disconnect, when the client
    # goes (or when the response is complete).
    while (await request.receive())["type"] != "http.disconnect":
        pass
