"""Request-level errors of the scoring API, each with its stable code and HTTP status.

Per-item problems (one file or cutout) are result items, not exceptions; these are for a request
that is answered with an error as a whole. The API layer renders any :class:`ServiceError` as
``{"error": {"code", "message"}, "problems": [...]}`` with ``status`` and, for the 503s,
a ``Retry-After`` header of ``retry_after_s`` seconds.
"""

from __future__ import annotations

from typing import ClassVar

from app.schemas import CutoutFailure


class ServiceError(Exception):
    """A request answered with an error: ``code`` is stable, ``message`` is for people."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(
        self, message: str, *, problems: list[CutoutFailure] | None = None, retry_after_s: int | None = None
    ) -> None:
        super().__init__(f"{self.code}: {message}")
        self.message = message
        self.problems = problems
        self.retry_after_s = retry_after_s


class BadMultipart(ServiceError):
    code, status = "bad_multipart", 400


class NoFiles(ServiceError):
    code, status = "no_files", 400


class UnknownModel(ServiceError):
    code, status = "unknown_model", 404


class RequestTooLarge(ServiceError):
    code, status = "request_too_large", 413


class TooManyFiles(ServiceError):
    code, status = "too_many_files", 413


class TooManyCutouts(ServiceError):
    code, status = "too_many_cutouts", 413


class NothingToScore(ServiceError):
    code, status = "nothing_to_score", 422


class InvalidRequest(ServiceError):
    code, status = "invalid_request", 422


class ClientGone(ServiceError):
    # nginx's 499: the client closed the connection; nobody reads this answer.
    code, status = "client_closed_request", 499


class NotReady(ServiceError):
    code, status = "not_ready", 503


class QueueFullError(ServiceError):
    code, status = "queue_full", 503


class ShuttingDown(ServiceError):
    code, status = "shutting_down", 503


class DeadlineExceeded(ServiceError):
    code, status = "deadline_exceeded", 504
