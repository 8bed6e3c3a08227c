"""Refuse a request body over ``LENSFINDER_MAX_REQUEST_BYTES`` before the multipart is parsed.

A declared ``Content-Length`` over the limit is answered 413 ``request_too_large`` at once, without
reading the body. A body without a length (chunked) is counted as it streams in and refused as soon
as it passes the limit: the route's body reading then raises :class:`~app.scoring.errors.RequestTooLarge`.
Pure ASGI (no BaseHTTPMiddleware), so streaming and disconnect detection are untouched.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import service_error_response
from app.scoring.errors import RequestTooLarge


def _too_large(limit: int, size: int | None) -> RequestTooLarge:
    said = f"{size} bytes" if size is not None else "more"
    return RequestTooLarge(
        f"the request body is {said}; the limit is {limit} bytes (LENSFINDER_MAX_REQUEST_BYTES): "
        "send fewer or smaller files per request"
    )


class BodyLimitMiddleware:
    """The request byte limit, for every HTTP route."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await service_error_response(_too_large(self.max_bytes, int(declared)))(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large(self.max_bytes, None)
            return message

        await self.app(scope, counted, send)
