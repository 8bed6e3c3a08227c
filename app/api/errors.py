"""How errors become responses: one JSON shape, ``{"error": {"code", "message"}, "problems": [...]}``.

- :class:`app.scoring.errors.ServiceError`: its status and code (Retry-After on the 503s).
- Request validation (a bad query value such as ``threshold=2``): 422 ``invalid_request``.
- Other HTTP errors (unknown route, wrong method): their status, code ``not_found``,
  ``method_not_allowed`` or ``http_<status>``.
- Anything unexpected: 500 ``internal_error``, logged with its traceback, none in the body
  (:class:`CatchAllMiddleware`, inside Starlette's own error middleware, so it is logged once and the
  client always gets the JSON body).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas import ErrorBody, Problem
from app.scoring.errors import InvalidRequest, ServiceError

log = logging.getLogger("lensfinder")

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}

# For the routes' OpenAPI ``responses``.
ERROR_RESPONSE = {"model": ErrorBody, "description": "An error; the body says which (code) and why"}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: ErrorBody | None = None,
) -> JSONResponse:
    body = body or ErrorBody(error=Problem(code=code, message=message))
    content = body.model_dump(mode="json")
    if content["problems"] is None:  # only nothing_to_score lists problems
        del content["problems"]
    return JSONResponse(content, status_code=status, headers=headers)


def service_error_response(error: ServiceError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s is not None else None
    body = ErrorBody(error=Problem(code=error.code, message=error.message), problems=error.problems)
    return error_response(error.status, error.code, error.message, headers=headers, body=body)


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    return service_error_response(error)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    parts = [
        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
        for item in error.errors()
    ]
    return service_error_response(InvalidRequest("; ".join(parts) or "the request is invalid"))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = HTTP_CODES.get(error.status_code, f"http_{error.status_code}")
    return error_response(error.status_code, code, str(error.detail), headers=error.headers)


class CatchAllMiddleware:
    """Turn an exception no handler took into a JSON 500 (when the response has not started)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            message = "an unexpected error; it was logged. Please report it."
            await error_response(500, "internal_error", message)(scope, receive, send)


def install(application: FastAPI) -> None:
    """Register the handlers on ``application``."""
    application.add_exception_handler(ServiceError, _service_error)
    application.add_exception_handler(RequestValidationError, _validation_error)
    application.add_exception_handler(HTTPException, _http_error)
