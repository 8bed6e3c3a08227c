"""Read the multipart body of ``POST /classify``: every part named ``files``, within the limits.

Parsing stops at the first part past ``LENSFINDER_MAX_FILES`` (413 ``too_many_files``); a body that
is not a readable multipart form is 400 ``bad_multipart``; a form without a part named ``files`` is
400 ``no_files`` (naming the parts it has). A part named ``files`` sent as a text field is read as a
file of those bytes (it will most likely be ``not_fits_or_png``). Parts of other names are ignored.
A client that leaves while sending is :class:`~app.scoring.errors.ClientGone` (not a server error).
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from app.scoring.errors import BadMultipart, ClientGone, NoFiles, TooManyFiles
from app.scoring.prepare import Upload

FIELD = "files"
TEXT_FIELDS = 16  # non-file parts a form may hold besides its files (text parts named files count too)

# Starlette reports every multipart problem as one exception type; the count limits by their wording.
_COUNT_LIMIT_WORDS = ("Too many files", "Too many fields")


async def read_uploads(request: Request, max_files: int) -> list[Upload]:
    """The ``files`` parts of the request's multipart body, in order, read into memory."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/form-data"):
        raise NoFiles(
            f"send multipart/form-data with one or more parts named {FIELD!r} "
            f"(curl -F {FIELD}=@cutout.fits); got content type {content_type or 'none'!r}"
        )
    try:
        form = await request.form(max_files=max_files, max_fields=max_files + TEXT_FIELDS)
    except HTTPException as error:
        detail = str(error.detail)
        if detail.startswith(_COUNT_LIMIT_WORDS):
            raise TooManyFiles(
                f"the request has more than {max_files} parts (LENSFINDER_MAX_FILES): send a FITS stack "
                "or split the request"
            ) from None
        raise BadMultipart(f"the multipart body cannot be read: {detail}") from None
    except ClientDisconnect:
        raise ClientGone("the client closed the connection while sending the body") from None
    try:
        parts = form.getlist(FIELD)
        if not parts:
            names = sorted(set(form.keys()))
            raise NoFiles(f"the form has no part named {FIELD!r} (it has {names or 'no parts'})")
        if len(parts) > max_files:
            raise TooManyFiles(
                f"the request has {len(parts)} files; the limit is {max_files} (LENSFINDER_MAX_FILES)"
            )
        uploads = []
        for position, part in enumerate(parts):
            name = f"{FIELD}[{position}]"
            if isinstance(part, UploadFile):
                uploads.append(Upload(part.filename or name, await part.read()))
            else:
                uploads.append(Upload(name, part.encode("utf-8")))
        return uploads
    finally:
        await form.close()
