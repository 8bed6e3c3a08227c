"""Read the multipart body of ``POST /classify``: every part named ``files``, within the limits.

More than ``LENSFINDER_MAX_FILES`` parts named ``files`` is 413 ``too_many_files`` (splitting stops
early past that many plus a few text fields); a body that is not a readable multipart form is 400
``bad_multipart``; a form without a part named ``files`` is
400 ``no_files`` (naming the parts it has). A part named ``files`` sent as a text field is read as a
file of those bytes (it will most likely be ``not_fits_or_png``). Parts of other names are ignored.
A client that leaves while sending is :class:`~app.scoring.errors.ClientGone` (not a server error).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

from app.api.multipart import MultipartError, TooManyParts, boundary_of, parse_multipart
from app.scoring.errors import BadMultipart, ClientGone, NoFiles, TooManyFiles
from app.scoring.prepare import Upload

FIELD = "files"
TEXT_FIELDS = 16  # non-file parts a form may hold besides its files (text parts named files count too)


def upload_body(files: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI ``openapi_extra`` describing a multipart body whose parts named ``files`` follow the
    schema ``files``: routes read the body by hand (:func:`read_uploads`), so FastAPI cannot infer it."""
    form = {"type": "object", "required": [FIELD], "properties": {FIELD: files}}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}}


def _too_many(max_files: int, detail: str) -> TooManyFiles:
    return TooManyFiles(
        f"{detail}; the limit is {max_files} files (LENSFINDER_MAX_FILES): send a FITS stack or split "
        "the request"
    )


async def read_uploads(request: Request, max_files: int) -> list[Upload]:
    """The ``files`` parts of the request's multipart body, in order, read into memory.

    The body is read whole (bounded by LENSFINDER_MAX_REQUEST_BYTES before it is read,
    app/api/body_limit.py) and split by :func:`app.api.multipart.parse_multipart`.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NoFiles(
            f"send multipart/form-data with one or more parts named {FIELD!r} "
            f"(curl -F {FIELD}=@cutout.fits); got content type {content_type or 'none'!r}"
        )
    try:
        body = await request.body()
    except ClientDisconnect:
        raise ClientGone("the client closed the connection while sending the body") from None
    try:
        parts = parse_multipart(body, boundary_of(content_type), max_parts=max_files + TEXT_FIELDS)
    except TooManyParts as error:
        raise _too_many(max_files, str(error)) from None
    except MultipartError as error:
        raise BadMultipart(f"the multipart body cannot be read: {error}") from None
    files = [part for part in parts if part.name == FIELD]
    if not files:
        names = sorted({part.name for part in parts})
        raise NoFiles(f"the form has no part named {FIELD!r} (it has {names or 'no parts'})")
    if len(files) > max_files:
        raise _too_many(max_files, f"the request has {len(files)} files")
    return [Upload(part.filename or f"{FIELD}[{k}]", part.data) for k, part in enumerate(files)]
