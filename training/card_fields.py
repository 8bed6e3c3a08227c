"""The model card's fields as training writes them (DESIGN section 4): the fixed texts, the input
section, the git state, and :func:`build_card`, which assembles and validates a card.

``training.export`` writes the graph and calls :func:`build_card`; ``training.export_cli`` derives the
sections from a training run. The card is validated by ``app.card.ModelCard`` (the service's own
schema), so a card that training writes is one the service loads.

- ``MEANING``: what the ``probability`` output is. With Platt scaling (``training.calibrate``) it is
  calibrated on the validation split, whose lens fraction is the data set's own (70% in the simulated
  space set, 40% in ground), not the 50/50 of training's balanced batches and not the sky's ~1e-3.
- ``INPUT_NAME`` and ``OUTPUT_NAMES``: the graph's interface, which the card records and the export
  checks.
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from app.card import SCHEMA_VERSION, ModelCard

INPUT_NAME: Final = "cutouts"
OUTPUT_NAMES: Final = ("logit", "probability")
REPO: Final = Path(__file__).resolve().parent.parent

_MEANING: Final = (
    "probability that a visible strong lens is in the cutout (more than one image of the source, "
    "magnification above 1.6, more than 20 source pixels above 1 sigma of the noise), calibrated on "
    "the validation set: under that set's lens fraction{fraction}, which is the data set's own (not the "
    "50/50 of the balanced training batches, and not the sky's ~1e-3); for a prior pi add "
    "logit(pi) - logit(validation lens fraction) to the calibrated log-odds"
)
MEANING: Final = _MEANING.format(fraction="")
PREPROCESSING: Final = (
    "inside the ONNX graph (training.normalise.Normalise, tested equal to app.preprocess.normalise): "
    "per cutout and per plane, with the median and 1.4826 x MAD of the finite pixels of the stride-2 "
    "grid (every other row and column), subtract the median, divide by 3 x that sigma (else the "
    "standard deviation, else the peak deviation, else 1) and take asinh; invariant to the flux unit. "
    "Send raw pixels."
)
MASKED_PIXELS: Final = (
    "masked pixels are NaN on input: non-finite values, FITS BLANK and the BLF mask value 100.0 in "
    "floating-point data (app/decode/masking.py); padding to the model's size is NaN too"
)
NAN_HANDLING: Final = (
    "NaN and infinite pixels are left out of the median and MAD and set to 0 (the background) after "
    "normalisation, in the graph; a plane with no finite pixel becomes all 0 (the service refuses an "
    "all-NaN cutout with error all_nan)"
)


def meaning(lens_fraction: float | None = None) -> str:
    """The card's ``output.meaning``, naming the validation lens fraction when it is known."""
    return MEANING if lens_fraction is None else _MEANING.format(fraction=f" ({lens_fraction:.3g})")


def calibration_mapping(calibration: Mapping[str, Any] | None) -> dict[str, Any]:
    """The card's ``output.calibration`` from ``{"method": ..., "parameters": {...}}`` (for example
    ``training.calibrate.Calibration.card()``; other keys are ignored, so a whole ``calibration.json``
    will do); None gives ``{"method": "none", "parameters": {}}``. The card validates it."""
    if calibration is None:
        return {"method": "none", "parameters": {}}
    return {"method": calibration.get("method"), "parameters": json_ready(calibration.get("parameters"))}


def git_state(repo: Path = REPO) -> tuple[str | None, bool | None]:
    """(HEAD commit, whether tracked files outside ``models/`` differ from it); (None, None) outside a
    git checkout. ``models/`` is left out because an export rewrites its own model folder there: that
    is the output, not a change to the code or configs that made it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)models"],
            cwd=repo, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def input_section(
    bands: list[str],
    *,
    pixel_scale_arcsec: float | None,
    accepts: list[str],
    stretch: Mapping[str, Any] | None = None,
    height: int = 101,
    width: int = 101,
) -> dict[str, Any]:
    """The card's ``input`` section for a model with the normalisation in its graph."""
    return {
        "bands": list(bands),
        "height": height,
        "width": width,
        "pixel_scale_arcsec": pixel_scale_arcsec,
        "accepts": list(accepts),
        "preprocessing": {"description": PREPROCESSING, "in_graph": True},
        "masked_pixels": MASKED_PIXELS,
        "nan_handling": NAN_HANDLING,
        "stretch": dict(stretch) if stretch is not None else None,
    }


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python, tuples as lists and NaN/inf as None (JSON has no
    NaN; the card reads None as "undefined on this set", e.g. TPR10 with fewer than 10 non-lenses)."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def build_card(
    *,
    name: str,
    version: str,
    input: Mapping[str, Any],
    training: Mapping[str, Any],
    threshold: float,
    threshold_rule: str,
    calibration: Mapping[str, Any] | None,
    metrics: Mapping[str, Any] | None,
    plots: Mapping[str, str] | None,
    onnx_sha256: str,
    opset: int,
    git: tuple[str | None, bool | None],
    meaning: str = MEANING,
    created: datetime | None = None,
) -> ModelCard:
    """Assemble and validate a card (``app.card.CardError`` naming the bad field on failure).
    ``calibration`` is the card's ``output.calibration`` mapping, ``{"method": ..., "parameters":
    {...}}`` (:func:`calibration_mapping`); None: no calibration (probability = sigmoid(logit))."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "identity": {
            "name": name,
            "version": version,
            "created": (created or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "onnx_sha256": onnx_sha256,
            "opset": opset,
            "git_commit": git[0],
            "git_dirty": git[1],
        },
        "input": input,
        "output": {
            "meaning": meaning,
            "threshold": threshold,
            "threshold_rule": threshold_rule,
            "calibration": calibration_mapping(calibration),
            "input_name": INPUT_NAME,
            "output_names": list(OUTPUT_NAMES),
        },
        "training": training,
        "metrics": metrics,
        "plots": dict(plots or {}),
    }
    return ModelCard.from_dict(json_ready(data))
