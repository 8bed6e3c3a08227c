"""How a request reaches a scorer: over HTTP (:class:`HttpTransport`) or in-process
(:class:`app.bulk.local.LocalService`), with one retry policy for both.

A reply is the service's :class:`~app.schemas.ClassifyResponse`, or a :class:`Refusal`: the error
answer of a whole request (its HTTP status, stable code, message, the per-item ``problems`` of a
``nothing_to_score``, and ``Retry-After`` in seconds for the 503s).

Retries (:func:`send_with_retry`): a 503 (``queue_full``, ``not_ready``, ``shutting_down``) is sent
again after ``max(Retry-After, backoff)`` seconds, the backoff doubling from ``RetryPolicy.base_s`` up
to ``max_s``, with up to 25% jitter so many clients do not return at once, for at most
``attempts`` sends; the last refusal is then the reply (its cutouts become error rows). A connection
failure is retried the same way; when every attempt fails it raises :class:`ServiceUnreachable`,
since a run cannot go on without its service.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field, ValidationError

from app.client.pack import Part
from app.schemas import ClassifyResponse, CutoutFailure


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request answered with an error as a whole."""

    status: int
    code: str
    message: str
    problems: list[CutoutFailure] = field(default_factory=list)
    retry_after_s: float | None = None


Reply = ClassifyResponse | Refusal


class ServiceUnreachable(ConnectionError):
    """The scorer could not be reached after every retry."""


class Transport(Protocol):
    """Something that scores one request of parts (``model``/``threshold`` as the API's query)."""

    async def send(self, parts: Sequence[Part], model: str | None, threshold: float | None) -> Reply: ...

    async def bands(self, model: str) -> tuple[str, ...] | None:
        """The bands ``model`` takes, in plane order; None when the scorer has no such model."""
        ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` sends per request; backoff ``base_s`` doubling up to ``max_s`` seconds."""

    attempts: int = 8
    base_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        backoff = min(self.max_s, self.base_s * 2.0**attempt)
        wait = max(retry_after_s or 0.0, backoff)
        return min(self.max_s, wait) * (1.0 + 0.25 * random.random())


async def send_with_retry(
    transport: Transport,
    parts: Sequence[Part],
    model: str | None,
    threshold: float | None,
    policy: RetryPolicy,
) -> Reply:
    """Send one request, retrying 503s and connection failures (module docstring)."""
    for attempt in range(policy.attempts):
        last = attempt == policy.attempts - 1
        try:
            reply = await transport.send(parts, model, threshold)
        except ServiceUnreachable:
            if last:
                raise
            await asyncio.sleep(policy.delay(attempt, None))
            continue
        if isinstance(reply, Refusal) and reply.status == 503 and not last:
            await asyncio.sleep(policy.delay(attempt, reply.retry_after_s))
            continue
        return reply
    raise AssertionError("unreachable: the loop returns or raises")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def refusal_from(response: httpx.Response) -> Refusal:
    """The error answer of a request, whatever its body (JSON per the API, or anything a proxy sends)."""
    try:
        body: Any = response.json()
        error = body["error"]
        problems = [CutoutFailure.model_validate(p) for p in body.get("problems") or []]
        return Refusal(
            response.status_code, str(error["code"]), str(error["message"]), problems, _retry_after(response)
        )
    except (ValueError, KeyError, TypeError, ValidationError):
        text = response.text[:300]
        return Refusal(response.status_code, f"http_{response.status_code}", text, [], _retry_after(response))


class _CardInput(BaseModel):
    bands: tuple[str, ...] = Field(min_length=1)


class _CardBands(BaseModel):
    """The one part of a model card (``GET /models/{name}``) the client needs: its bands, in plane order.
    (Not ``app.card.ModelCard``: building its models takes a tenth of a second of the command's
    start-up, for a value the service has already validated.)"""

    input: _CardInput


class HttpTransport:
    """``POST {url}/classify`` with an :class:`httpx.AsyncClient` (keep-alive, pooled connections)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def send(self, parts: Sequence[Part], model: str | None, threshold: float | None) -> Reply:
        params: dict[str, str] = {}
        if model is not None:
            params["model"] = model
        if threshold is not None:
            params["threshold"] = repr(float(threshold))
        files = [("files", (part.name, part.data, "application/octet-stream")) for part in parts]
        response = await self.request("POST", "/classify", params=params, files=files)
        if response.status_code == 200:
            return ClassifyResponse.model_validate_json(response.content)
        return refusal_from(response)

    async def bands(self, model: str) -> tuple[str, ...] | None:
        response = await self.request("GET", f"/models/{model}")
        if response.status_code != 200:
            return None  # an unknown model: every request will say so, cutout by cutout
        return _CardBands.model_validate_json(response.content).input.bands

    async def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One HTTP request to the service; :class:`ServiceUnreachable` when it cannot be reached
        (connection refused or reset, timeouts)."""
        try:
            return await self.http.request(method, path, **options)
        except httpx.TransportError as error:
            raise ServiceUnreachable(f"{self.http.base_url}: {type(error).__name__}: {error}") from error
