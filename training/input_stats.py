"""``python -m training.input_stats``: the statistics of a model's training inputs, into its card.

Write the card's ``input_statistics`` section (``app.card.InputStatistics``) from the data set the model
was trained on; ``model.onnx`` is not touched (the card's ``onnx_sha256`` covers only the graph, and is
checked before writing)::

    python -m training.input_stats --model models/space --data data/space [--limit N]

Measure the false-warning rate of the out-of-distribution checks (``app.ood``) on a test set simulated
with another seed, where no cutout is out of distribution, so every warning is a false one (and,
with ``--stretch``, how often PNG renderings under another viewer's stretch are caught)::

    python -m training.input_stats --model models/space --test data/space-test [--json FILE]
        [--stretch soft|hard|gamma|dark]

- For every input kind the card accepts, the cutouts are fed as the model takes them
  (``training.evaluate.model_inputs``): the raw planes in the model's band order for ``fits``; the
  rendered-and-decoded PNG for ``png-gray`` / ``png-rgb``, under the stretch training used (the
  documented one, or one ``training.stretches.random_stretch`` draw per cutout at the training's
  augmentation strength when the card says ``png_stretch: random``). Test renderings use the
  documented stretch (what the README tells users to send).
- Statistics: ``app.ood.stats.plane_statistics`` per plane and ``app.decode.masking.masked_fractions``
  per cutout, the same code the service runs on each cutout; their 0.1, 1, 50, 99 and 99.9 per cent
  quantiles go into the card, per kind and band.
- PSF: the simulator's catalogue gives each cutout's PSF FWHM per band (``psf_fwhm_<band>``); its
  quantiles go into ``psf.fwhm_arcsec``. The real BLF release does not say: then it is null with a
  note (``peak_fwhm_px`` measures the brightest peak's width from the pixels either way).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.card import CARD_FILE, ModelCard
from app.decode.masking import masked_fractions
from app.decode.types import InputFormat
from app.ood.check import CODES, ood_warnings
from app.ood.stats import plane_statistics
from training.card_fields import json_ready
from training.datasets import BLFDataset
from training.evaluate import select_planes
from training.stretches import random_stretch, render_png

CHUNK = 500
PERCENTS = (0.1, 1.0, 50.0, 99.0, 99.9)
KEYS = ("p0.1", "p1", "p50", "p99", "p99.9")


def quantiles(values: npt.ArrayLike) -> dict[str, Any]:
    """The card's quantiles of the finite ``values`` (``n`` of them; all 0 when there is none)."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"n": 0, **dict.fromkeys(KEYS, 0.0)}
    q = np.percentile(x, PERCENTS)
    return {"n": int(x.size), **{k: float(f"{v:.6g}") for k, v in zip(KEYS, q, strict=True)}}


def training_stretch(card: ModelCard) -> tuple[str, float]:
    """(``default`` or ``random``, strength) of the PNG stretch the model was trained on."""
    augmentation = card.training.augmentation
    kind = augmentation.get("png_stretch", "default")
    strength = augmentation.get("strength", 0.0)
    return (
        "random" if kind == "random" else "default",
        float(strength) if isinstance(strength, int | float) else 0.0,
    )


def kind_inputs(
    images: npt.NDArray[np.float32],
    data_bands: tuple[str, ...],
    card: ModelCard,
    kind: InputFormat,
    rng: np.random.Generator | None = None,
    stretch: str = "default",
) -> npt.NDArray[np.float32]:
    """``images`` (B, C, H, W) of the data set as the model takes them for input ``kind``; ``rng``
    set: PNG renderings under the training's random stretches, else under ``stretch`` (a name of
    ``training.stretches.STRETCHES``; ``default`` is the documented one)."""
    bands = tuple(card.input.bands)
    if kind == "fits":
        return np.asarray(select_planes(images, data_bands, bands), dtype=np.float32)
    mode = "gray" if kind == "png-gray" else "rgb"
    planes = select_planes(images, data_bands, bands) if mode == "gray" else images
    how, strength = training_stretch(card)
    if rng is not None and how == "random":
        stretches = [random_stretch(rng, strength) for _ in range(len(images))]
        return render_png(planes, mode, data_bands if mode == "rgb" else bands, stretches)
    return render_png(planes, mode, data_bands if mode == "rgb" else bands, stretch)


def _chunks(ds: BLFDataset, rows: npt.NDArray[np.intp]) -> Iterator[npt.NDArray[np.float32]]:
    for start in range(0, len(rows), CHUNK):
        yield np.array(ds.images[rows[start : start + CHUNK]], dtype=np.float32)


def _rows(n: int, limit: int | None, seed: int) -> npt.NDArray[np.intp]:
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def kind_statistics(
    ds: BLFDataset, card: ModelCard, kind: InputFormat, rows: npt.NDArray[np.intp], seed: int
) -> dict[str, Any]:
    """The card's ``by_input[kind]`` section from the cutouts ``rows`` of ``ds``."""
    rng = np.random.default_rng(seed)
    png = kind != "fits"
    per_plane: dict[str, list[npt.NDArray[np.float64]]] = {}
    masked: list[npt.NDArray[np.float64]] = []
    for images in _chunks(ds, rows):
        x = kind_inputs(images, ds.bands, card, kind, rng)
        for name, values in plane_statistics(x, png=png).items():
            per_plane.setdefault(name, []).append(values)
        masked.append(masked_fractions(x))
    bands = card.input.bands
    planes = {
        name: {band: quantiles(np.concatenate(parts)[:, c]) for c, band in enumerate(bands)}
        for name, parts in per_plane.items()
    }
    how, strength = training_stretch(card)
    rendering = None
    if png:
        rendering = (
            f"app.render with one training.stretches.random_stretch draw per cutout (strength {strength:g})"
            if how == "random"
            else "app.render's documented stretch, decoded by app.decode"
        )
    return {
        "n": len(rows),
        "rendering": rendering,
        "masked_fraction": quantiles(np.concatenate(masked)),
        "planes": planes,
    }


def psf_section(ds: BLFDataset, card: ModelCard, rows: npt.NDArray[np.intp]) -> dict[str, Any]:
    """``psf``: quantiles of the catalogue's ``psf_fwhm_<band>`` per band, or null with the reason."""
    catalogue = ds.catalogue
    columns = {name.lower(): name for name in catalogue} if catalogue is not None else {}
    wanted = {band: columns.get(f"psf_fwhm_{band}") for band in card.input.bands}
    if catalogue is None or any(column is None for column in wanted.values()):
        return {
            "fwhm_arcsec": None,
            "note": "not known: the data set's catalogue has no psf_fwhm_<band> column for every band "
            "(the real BLF release does not give the PSF); peak_fwhm_px measures the brightest peak",
        }
    return {
        "fwhm_arcsec": {
            band: quantiles(np.asarray(catalogue[column], dtype=np.float64)[rows])
            for band, column in wanted.items()
            if column is not None
        },
        "note": "from the simulator's catalogue (psf_fwhm_<band>, the FWHM each cutout was convolved with)",
    }


def input_statistics(ds: BLFDataset, card: ModelCard, *, limit: int | None, seed: int) -> dict[str, Any]:
    """The card's ``input_statistics`` section for ``card``'s model trained on ``ds``."""
    rows = _rows(len(ds), limit, seed)
    by_input = {kind: kind_statistics(ds, card, kind, rows, seed) for kind in card.input.accepts}
    source = card.training.data.source
    return {
        "description": (
            "quantiles of app.ood.stats over the model's training inputs as the model takes them, "
            "written by python -m training.input_stats; the service warns outside "
            "[p0.1 - m, p99.9 + m] (app.ood.check)"
        ),
        "data": f"{ds.root.name}: {len(rows)} of {len(ds)} cutouts ({source})",
        "pixel_scale_arcsec": float(ds.pixel_scale_arcsec),
        "psf": psf_section(ds, card, rows),
        "by_input": by_input,
    }


def write_statistics(model_dir: Path, section: dict[str, Any]) -> ModelCard:
    """Put ``section`` into ``model_dir``'s card (validated; the ONNX file checked, never written)."""
    path = model_dir / CARD_FILE
    card = ModelCard.load(path)
    card.verify_files(model_dir)
    data = card.model_dump(mode="json", by_alias=True)
    data["input_statistics"] = json_ready(section)
    updated = ModelCard.from_dict(data, path)
    updated.write(path)
    return updated


def false_warning_rates(
    ds: BLFDataset, card: ModelCard, *, limit: int | None, seed: int, stretch: str = "default"
) -> dict[str, Any]:
    """Per input kind: the fraction of ``ds``'s cutouts with any out-of-distribution warning, and per
    code. With the documented ``stretch`` every warning on a simulated test set is a false one; with
    another stretch the PNG rates say how often ``png_stretch_unusual`` and the others catch it."""
    if card.input_statistics is None:
        raise SystemExit(f"{card.name}: the card has no input_statistics; run with --data first")
    rows = _rows(len(ds), limit, seed)
    result: dict[str, Any] = {}
    for kind, section in card.input_statistics.by_input.items():
        flagged = 0
        by_code = dict.fromkeys(CODES, 0)
        for images in _chunks(ds, rows):
            x = kind_inputs(images, ds.bands, card, kind, stretch=stretch)
            for warnings in ood_warnings(x, kind, card.input.bands, section):
                flagged += bool(warnings)
                for warning in warnings:
                    by_code[warning.code] += 1
        result[kind] = {
            "n": len(rows),
            "rendering": None if kind == "fits" else f"stretch {stretch!r} (training.stretches)",
            "false_warning_rate": flagged / len(rows),
            "by_code": {code: count / len(rows) for code, count in by_code.items() if count},
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.input_stats", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="model folder (model.json, model.onnx)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", help="the training set: write the card's input_statistics from it")
    what.add_argument("--test", help="a test set: measure the false-warning rate on it")
    parser.add_argument("--limit", type=int, default=None, help="a seeded random subset of N cutouts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="--test: also write the rates to this JSON file")
    parser.add_argument(
        "--stretch", default="default", help="--test: render PNG kinds with this training.stretches stretch"
    )
    args = parser.parse_args(argv)

    from training.data import read_blf

    model_dir = Path(args.model)
    card = ModelCard.load(model_dir / CARD_FILE)
    if args.data:
        ds = read_blf(args.data)
        section = input_statistics(ds, card, limit=args.limit, seed=args.seed)
        write_statistics(model_dir, section)
        print(f"wrote input_statistics ({', '.join(section['by_input'])}) into {model_dir / CARD_FILE}")
        return 0
    ds = read_blf(args.test)
    rates = false_warning_rates(ds, card, limit=args.limit, seed=args.seed, stretch=args.stretch)
    report = {
        "model": card.name,
        "version": card.identity.version,
        "data": str(ds.root),
        "stretch": args.stretch,
        "rates": rates,
    }
    for kind, rate in rates.items():
        codes = ", ".join(f"{code} {value:.2%}" for code, value in rate["by_code"].items()) or "none"
        print(f"{card.name} {kind}: {rate['false_warning_rate']:.2%} of {rate['n']} flagged ({codes})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
