"""Which model scores a request when none is named (DESIGN section 6).

The first file, in upload order, that decodes and that some loaded model takes chooses the model for
the whole request; every other file is then conformed to that model (a file it does not take gets
``band_mismatch``). A file is taken by the models that accept its format (``fits``, ``png-gray``,
``png-rgb``) with as many bands as its cutouts have: one band -> ``space``, four -> ``ground``, an
RGB PNG -> ``rgb`` among the shipped models. Where several models qualify, the one whose bands the
file names wins, then the first by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.card import ModelCard
from app.decode.types import DecodedFile


def file_bands(decoded: DecodedFile) -> tuple[str, ...] | None:
    """The band names the file declares (those of its first cutout), None when it names none."""
    return decoded.cutouts[0].bands if decoded.cutouts else None


def candidates(decoded: DecodedFile, cards: Mapping[str, ModelCard]) -> list[ModelCard]:
    """The models that take this file, best first."""
    planes = decoded.pixels.shape[1]
    names = file_bands(decoded)
    fitting = [
        card
        for card in cards.values()
        if decoded.format in card.input.accepts and len(card.input.bands) == planes
    ]

    def rank(card: ModelCard) -> tuple[bool, str]:
        named_match = names is not None and sorted(names) == sorted(card.input.bands)
        return (not named_match, card.name)

    return sorted(fitting, key=rank)


def choose(decoded: DecodedFile, cards: Mapping[str, ModelCard]) -> str | None:
    """The model for this file, None when no loaded model takes it."""
    found = candidates(decoded, cards)
    return found[0].name if found else None


def no_model_message(decoded: DecodedFile, cards: Mapping[str, ModelCard]) -> str:
    """Why no loaded model takes this file, naming what each model takes."""
    planes = decoded.pixels.shape[1]
    names = file_bands(decoded)
    what = f"{decoded.format} with {planes} band(s)" + (f" {list(names)}" if names else "")
    loaded = "; ".join(
        f"{card.name}: {', '.join(card.input.accepts)} with bands {list(card.input.bands)}"
        for card in sorted(cards.values(), key=lambda c: c.name)
    )
    return f"{decoded.file} is {what}; no loaded model takes that ({loaded}); name a model with ?model="
