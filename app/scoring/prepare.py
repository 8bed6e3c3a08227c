"""From uploaded bytes to the pixels of one model's batch: decode, choose the model, conform, and add
the out-of-distribution warnings of each cutout (:func:`app.ood.annotate_all`, the request's files at once).

Blocking (astropy, Pillow, numpy): the API runs :func:`prepare` in a worker thread, off the event loop.
Per-file problems become file errors (the other files go on); a request over the cutout limit, or a
model named but not loaded, is an error of the whole request (:mod:`app.scoring.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.card import ModelCard
from app.conform import conform
from app.decode import DecodeError, DecodeLimits, decode_bytes
from app.decode.types import DecodedFile, FileBytes
from app.ood import annotate_all
from app.schemas import Problem
from app.scoring.choose import choose, no_model_message
from app.scoring.errors import TooManyCutouts


@dataclass(frozen=True, slots=True)
class Upload:
    """One part named ``files``: the client's file name (or ``files[i]``) and its bytes (a view of the
    request body where it came in one)."""

    name: str
    data: FileBytes


@dataclass(frozen=True, slots=True)
class PreparedFile:
    """A file conformed to the request's model (``decoded``), or why it cannot be used (``error``)."""

    name: str
    decoded: DecodedFile | None = None
    error: Problem | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """The request's model (None when no file could choose one), every file in upload order, and the
    pixels (M, C, H, W) of its M scoreable cutouts, in upload order (cutouts without an error)."""

    model: str | None
    files: list[PreparedFile]
    pixels: npt.NDArray[np.float32]


def _problem(error: DecodeError, context: str = "") -> Problem:
    return Problem(code=error.code, message=context + error.message)


def prepare(
    uploads: Sequence[Upload],
    cards: Mapping[str, ModelCard],
    *,
    named: str | None,
    limits: DecodeLimits,
    max_cutouts: int,
) -> Prepared:
    """Decode every upload, choose the model (``named``, else from the input), conform to it."""
    channels = len(cards[named].input.bands) if named is not None else None
    decoded: list[DecodedFile | Problem] = []
    total = 0
    for upload in uploads:
        try:
            one = decode_bytes(upload.data, upload.name, channels=channels, limits=limits)
        except DecodeError as error:
            decoded.append(_problem(error))
            continue
        total += len(one.cutouts)
        if total > max_cutouts:
            raise TooManyCutouts(
                f"the request holds more than {max_cutouts} cutouts (counted up to {upload.name}); "
                "split it into several requests"
            )
        decoded.append(one)

    model, origin = named, "named in the request"
    if model is None:
        for item in decoded:
            if isinstance(item, DecodedFile) and (model := choose(item, cards)) is not None:
                origin = f"chosen from {item.file}"
                break
    files = [
        _conform(upload.name, item, cards, model, origin)
        for upload, item in zip(uploads, decoded, strict=True)
    ]
    if model is not None:
        files = _annotated(files, cards[model])
    return Prepared(model, files, _scoreable_pixels(files, cards[model] if model else None))


def _annotated(files: list[PreparedFile], card: ModelCard) -> list[PreparedFile]:
    """The files with each scoreable cutout's out-of-distribution warnings, all files at once."""
    usable = [(k, file.decoded) for k, file in enumerate(files) if file.decoded is not None]
    checked = annotate_all([decoded for _, decoded in usable], card)
    out = list(files)
    for (k, _), decoded in zip(usable, checked, strict=True):
        out[k] = PreparedFile(files[k].name, decoded=decoded)
    return out


def _conform(
    name: str, item: DecodedFile | Problem, cards: Mapping[str, ModelCard], model: str | None, origin: str
) -> PreparedFile:
    if isinstance(item, Problem):
        return PreparedFile(name, error=item)
    if model is None:
        return PreparedFile(
            name, error=Problem(code="no_matching_model", message=no_model_message(item, cards))
        )
    card = cards[model]
    try:
        conformed = conform(item, card.input_spec())
    except DecodeError as error:
        return PreparedFile(name, error=_problem(error, f"the request's model is {model} ({origin}): "))
    return PreparedFile(name, decoded=conformed)


def _scoreable_pixels(files: list[PreparedFile], card: ModelCard | None) -> npt.NDArray[np.float32]:
    parts = []
    for file in files:
        if file.decoded is None:
            continue
        keep = [i for i, meta in enumerate(file.decoded.cutouts) if meta.error is None]
        pixels = file.decoded.pixels
        parts.append(pixels if len(keep) == len(pixels) else pixels[keep])
    if len(parts) == 1:
        return parts[0]
    if parts:
        return np.concatenate(parts)
    shape = (0, len(card.input.bands), card.input.height, card.input.width) if card else (0, 1, 1, 1)
    return np.zeros(shape, dtype=np.float32)
