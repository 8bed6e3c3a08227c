"""``lensfinder gallery``: the highest-scoring cutouts of a results table as one static HTML page.

>>> from app.gallery import write_gallery
>>> write_gallery(Path("results.csv"), Path("gallery.html"), top=100)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.cli.table import read_table
from app.gallery.page import Card, page
from app.gallery.thumbs import ThumbMaker

Heat = Callable[[str, int, str], bytes | None]  # (file, index, model) -> saliency overlay PNG


def _text(value: object) -> str:
    return str(value).strip()


def _float(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def candidates(results: Path, top: int, *, lenses_only: bool = False, heat: Heat | None = None) -> list[Card]:
    """The ``top`` scored cutouts of ``results`` by probability (ties: table order), with thumbnails
    (and saliency overlays when ``heat`` is given: ``heat(file, index, model)`` -> PNG or None)."""
    table = read_table(results)
    probability = np.asarray(table["probability"], dtype=np.float64)
    scored = np.isfinite(probability) & (np.char.str_len(np.asarray(table["error"], dtype=str)) == 0)
    if lenses_only:
        scored &= np.asarray(table["is_lens"], dtype=bool)
    order = [int(k) for k in np.argsort(-probability, kind="stable") if scored[k]][: max(top, 0)]
    maker = ThumbMaker()
    cards = []
    for rank, k in enumerate(order, start=1):
        row = table[k]
        index = max(int(row["index"]), 0)
        thumb = maker.thumb(_text(row["file"]), index)
        cards.append(
            Card(
                rank=rank,
                file=_text(row["file"]),
                index=index,
                id=_text(row["id"]),
                probability=float(row["probability"]),
                is_lens=bool(row["is_lens"]),
                ra=_float(row["ra"]),
                dec=_float(row["dec"]),
                model=f"{_text(row['model'])} {_text(row['model_version'])}".strip(),
                warnings=_text(row["warnings"]).replace(";", ", "),
                png=thumb.png,
                kind=thumb.kind,
                heat=None if heat is None else heat(_text(row["file"]), index, _text(row["model"])),
            )
        )
    return cards


def write_gallery(
    results: Path,
    out: Path,
    *,
    top: int = 100,
    title: str | None = None,
    lenses_only: bool = False,
    heat: Heat | None = None,
) -> int:
    """Write the gallery of ``results`` to ``out``; returns the number of candidates shown."""
    cards = candidates(results, top, lenses_only=lenses_only, heat=heat)
    title = title or f"lensfinder candidates: {results.name}"
    subtitle = f"top {len(cards)} of {results} by lens probability"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(title, subtitle, cards), encoding="utf-8")
    return len(cards)
