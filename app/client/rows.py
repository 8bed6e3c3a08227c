"""One result row per cutout, in input order: the service's answers joined with what the client carried.

A row is a scored cutout (``probability`` and ``is_lens`` set, ``error`` None) or a failure (``error``
holds a stable code: the service's per-item code, a request-level code such as ``queue_full`` after
the retries, or a client-side one such as ``missing_band_file``). Failures are rows too: nothing is
ever dropped. ``id``, ``ra`` and ``dec`` come from the cutout's own file header (read by the client,
since a stack has one header for all its cutouts). ``warnings`` are codes: the client's decode
warnings, then the service's (``cropped``, ``bands_assumed``, ``pixel_scale_mismatch``, and whatever
else the service adds), each once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.client.load import Cutout, Failure
from app.client.pack import Plan, Slot
from app.client.transport import Refusal, Reply
from app.schemas import ClassifyResponse, CutoutFailure, CutoutResult

MISSING_RESULT = "missing_result"


@dataclass(frozen=True, slots=True)
class Row:
    """One cutout's result. ``index`` is its 0-based position in its source (None: the whole source
    failed); ``ra``/``dec`` ICRS degrees; ``probability`` the model's calibrated lens probability;
    ``threshold`` the cut ``is_lens`` used; ``model``/``model_version`` None when no model answered."""

    file: str
    index: int | None
    id: str | None
    ra: float | None
    dec: float | None
    probability: float | None
    is_lens: bool | None
    model: str | None
    model_version: str | None
    threshold: float | None
    warnings: tuple[str, ...]
    error: str | None
    error_message: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def _merge(first: tuple[str, ...], more: Sequence[str]) -> tuple[str, ...]:
    out = list(first)
    out += [code for code in more if code not in out]
    return tuple(out)


def failed_row(cutout: Cutout, failure: Failure, response: ClassifyResponse | None = None) -> Row:
    model = response.model if response is not None else None
    return Row(
        file=cutout.key,
        index=cutout.index,
        id=cutout.id,
        ra=cutout.ra,
        dec=cutout.dec,
        probability=None,
        is_lens=None,
        model=model.name if model else None,
        model_version=model.version if model else None,
        threshold=model.threshold if model else None,
        warnings=cutout.warnings,
        error=failure.code,
        error_message=failure.message,
    )


def _scored(cutout: Cutout, item: CutoutResult, response: ClassifyResponse) -> Row:
    return Row(
        file=cutout.key,
        index=cutout.index,
        id=cutout.id if cutout.id is not None else item.id,
        ra=cutout.ra if cutout.ra is not None else item.ra,
        dec=cutout.dec if cutout.dec is not None else item.dec,
        probability=item.lens_probability,
        is_lens=item.is_lens,
        model=response.model.name,
        model_version=response.model.version,
        threshold=response.model.threshold,
        warnings=_merge(cutout.warnings, [w.code for w in item.warnings]),
        error=None,
        error_message=None,
    )


Items = dict[tuple[str, int | None], CutoutResult | CutoutFailure]


def _index(items: Sequence[CutoutResult | CutoutFailure]) -> Items:
    return {(item.file, item.index): item for item in items}


def _row(cutout: Cutout, slot: Slot, reply: Reply, items: Items) -> Row:
    item = items.get((slot.part, slot.index)) or items.get((slot.part, None))
    response = reply if isinstance(reply, ClassifyResponse) else None
    if isinstance(item, CutoutResult) and response is not None:
        return _scored(cutout, item, response)
    if isinstance(item, CutoutFailure):
        return failed_row(cutout, Failure(item.error.code, item.error.message), response)
    if isinstance(reply, Refusal):
        return failed_row(cutout, Failure(reply.code, reply.message))
    message = f"the answer has no item for part {slot.part} index {slot.index}"
    return failed_row(cutout, Failure(MISSING_RESULT, message), response)


def build_rows(plan: Plan, replies: Sequence[Reply]) -> list[Row]:
    """One row per cutout of ``plan``, in its order; ``replies[k]`` answers ``plan.requests[k]``."""
    indexed: list[Items] = []
    for reply in replies:
        if isinstance(reply, ClassifyResponse):
            indexed.append(_index(reply.results))
        else:
            indexed.append(_index(reply.problems))
    rows = []
    for cutout, slot in zip(plan.cutouts, plan.slots, strict=True):
        if slot is None:
            failure = cutout.error or Failure(MISSING_RESULT, "the cutout was not sent")
            rows.append(failed_row(cutout, failure))
        else:
            rows.append(_row(cutout, slot, replies[slot.request], indexed[slot.request]))
    return rows
