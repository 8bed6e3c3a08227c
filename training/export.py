"""Export a trained lens finder to ONNX with built-in checks, and write its model card (DESIGN section 4).

``export_model(model, out_dir, ...)`` writes ``out_dir/model.onnx`` and ``out_dir/model.json``:

- The graph: one input ``cutouts`` float32 [batch, C, H, W] (symbolic batch): raw pixels in any linear
  flux unit (or PNG levels), masked pixels NaN; two outputs, ``logit`` float32 [batch] and
  ``probability`` float32 [batch] = sigmoid(scale * logit + bias), the calibration baked in as two
  constants (Platt scaling, ``training.calibrate``; a temperature T is scale 1/T, bias 0; isotonic
  calibration cannot be baked in and is refused): the probability that a visible strong lens is in the
  cutout, under the validation set's lens fraction (the data set's own). The normalisation
  (``training.normalise.Normalise``, the first layer of ``LensFinder``) is inside the graph, so any ONNX
  runtime scores raw cutouts exactly as the service does.
- Exporter: ``torch.onnx.export(dynamo=True)`` (torch.export + onnxscript), the default in torch 2.13.
  The TorchScript exporter (``dynamo=False``) cannot export ``aten::asinh`` at opset 17/18, which the
  normalisation needs, so it is not an option. The dynamo exporter implements opset 18 natively and
  only down-converts to 17 (which may fail), hence the default ``opset=18`` (>= 17 as required); the
  card records the opset actually in the file.
- Checks run on every export; any failure raises :class:`ExportCheckError` and leaves no ``model.onnx``:
  ``onnx.checker.check_model(full_check=True)``; the interface (names, dtypes, symbolic batch); torch
  against onnxruntime (CPU provider) within ``ATOL`` (1e-4, relative above 1) at batch 1, 7 and 64 on
  raw inputs with NaN holes, infinities, an all-NaN plane and fluxes from 1e-13 to 1e4; a batch of N
  against N single calls within ``BATCH_ATOL`` (1e-5); the file at most ``max_bytes`` with no external
  data.
- The card (:func:`training.card_fields.build_card`): SHA-256 of ``model.onnx``, the git commit and
  whether tracked files were modified (read before anything is written), the UTC time, and the caller's
  sections, validated by ``app.card.ModelCard`` before the export (fail fast) and again when written.

CLI: ``python -m training.export --run runs/<run> --out models/<name>`` (``training/export_cli.py``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from torch import nn

from app.card import CARD_FILE, ONNX_FILE, CardError, file_sha256
from training.card_fields import INPUT_NAME, MEANING, OUTPUT_NAMES, build_card, git_state
from training.card_fields import input_section as input_section  # re-exported: moved from here
from training.card_fields import json_ready as json_ready  # re-exported: moved from here

log = logging.getLogger(__name__)

DEFAULT_OPSET: Final = 18
ATOL: Final = 1e-4  # torch vs onnxruntime: |a - b| <= ATOL * max(1, |torch|)
BATCH_ATOL: Final = 1e-5  # one batch vs single calls, same tolerance form
CHECK_BATCHES: Final = (1, 7, 64)
MAX_BYTES: Final = 32 * 2**20


class ExportCheckError(RuntimeError):
    """An exported graph failed one of the built-in checks; the message says which and by how much."""


class Scorer(nn.Module):
    """What is exported: ``model`` (cutouts -> logits (N,)) plus calibration, returning
    ``(logit, probability)``, both (N,), probability = sigmoid(scale * logit + bias) (Platt scaling;
    scale > 0 keeps the ranking). The constants become graph constants."""

    def __init__(self, model: nn.Module, scale: float = 1.0, bias: float = 0.0) -> None:
        super().__init__()
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite positive number, got {scale}")
        if not math.isfinite(bias):
            raise ValueError(f"bias must be finite, got {bias}")
        self.model = model
        self.scale = float(scale)
        self.bias = float(bias)

    def forward(self, cutouts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit = self.model(cutouts)
        return logit, torch.sigmoid(logit * self.scale + self.bias)


def baked_constants(calibration: Mapping[str, Any] | None) -> tuple[float, float]:
    """(scale, bias) of the graph's ``probability = sigmoid(scale * logit + bias)`` for the card's
    calibration mapping ``{"method": ..., "parameters": {...}}``: platt ``{"scale": a, "bias": b}`` as
    is, temperature ``{"temperature": T}`` as (1/T, 0), none (or None) as (1, 0). Isotonic calibration
    is a step function, not two constants: ``ValueError``."""
    if calibration is None:
        return 1.0, 0.0
    method, parameters = calibration.get("method"), calibration.get("parameters") or {}
    if method == "platt":
        return float(parameters["scale"]), float(parameters["bias"])
    if method == "temperature":
        return 1.0 / float(parameters["temperature"]), 0.0
    if method == "none":
        return 1.0, 0.0
    if method == "isotonic":
        raise ValueError(
            "isotonic calibration cannot be baked into the ONNX graph (a step function, not two "
            "constants): calibrate with method platt (or temperature)"
        )
    raise ValueError(f"unknown calibration method {method!r}")


@dataclass
class CheckReport:
    """What the checks measured: worst |onnxruntime - torch| per batch size (logit, probability),
    worst |batch - single| difference, file size in bytes, and the opset in the file."""

    size_bytes: int
    opset: int
    max_diff: dict[int, tuple[float, float]] = field(default_factory=dict)
    batch_vs_single: float = 0.0
    export_s: float = 0.0
    check_s: float = 0.0


def check_inputs(
    batch: int, channels: int, height: int, width: int, seed: int = 0
) -> npt.NDArray[np.float32]:
    """Raw test cutouts float32 (batch, C, H, W): unit noise plus a bright blob, offset sky, each cutout
    scaled by 10**U(-13, 4) (BLF units to counts), with NaN rectangles and specks, a few +-inf, and
    (for batch >= 7) one plane entirely NaN: what the graph must take without complaint."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(batch, channels, height, width))
    yy, xx = np.mgrid[:height, :width]
    for i in range(batch):
        cy, cx = rng.uniform(0.3, 0.7, 2) * (height, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1.5, 6.0) ** 2))
        x[i] += rng.uniform(5, 1000, size=(channels, 1, 1)) * blob + rng.normal(0, 3, size=(channels, 1, 1))
        x[i] *= 10.0 ** rng.uniform(-13, 4)
        r0, c0 = rng.integers(0, height - 10), rng.integers(0, width - 10)
        x[i, :, r0 : r0 + rng.integers(2, 10), c0 : c0 + rng.integers(2, 10)] = np.nan
        specks = rng.random((channels, height, width)) < 0.01
        x[i][specks] = np.nan
        x[i, rng.integers(channels), rng.integers(height), rng.integers(width)] = rng.choice(
            [np.inf, -np.inf]
        )
    if batch >= 7:
        x[batch // 2, rng.integers(channels)] = np.nan
    return x.astype(np.float32)


def _diff(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Worst |a - b| / max(1, |b|): absolute for |b| <= 1, relative above (logits can be large)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if not (np.isfinite(a64).all() and np.isfinite(b64).all()):
        return math.inf
    return float(np.max(np.abs(a64 - b64) / np.maximum(1.0, np.abs(b64)), initial=0.0))


def _export_graph(scorer: Scorer, path: Path, shape: tuple[int, int, int], opset: int) -> None:
    """torch.onnx.export (dynamo) of ``scorer`` to ``path``, batch dimension symbolic."""
    example = torch.zeros((2, *shape), dtype=torch.float32)  # batch 2: batch 1 would be specialised
    batch = torch.export.Dim("batch", min=1)
    # The exporter narrates to stdout and warns about unrelated things (torchvision ops, opset choice).
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                scorer,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                opset_version=opset,
                dynamo=True,
                external_data=False,
                dynamic_shapes={"cutouts": {0: batch}},
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)


def _check_interface(model: onnx.ModelProto, shape: tuple[int, int, int]) -> None:
    graph = model.graph
    inputs = [i for i in graph.input if i.name not in {t.name for t in graph.initializer}]
    if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in graph.output] != list(OUTPUT_NAMES):
        raise ExportCheckError(
            f"graph interface: inputs {[i.name for i in inputs]}, outputs {[o.name for o in graph.output]}; "
            f"want [{INPUT_NAME!r}] and {list(OUTPUT_NAMES)}"
        )
    for value, want in [(inputs[0], (None, *shape)), *((o, (None,)) for o in graph.output)]:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if tensor.elem_type != onnx.TensorProto.FLOAT or tuple(dims) != want:
            raise ExportCheckError(
                f"graph {value.name!r}: elem type {tensor.elem_type}, shape {dims}; want float {want}"
            )
        if not tensor.shape.dim[0].dim_param:
            raise ExportCheckError(f"graph {value.name!r}: batch dimension is not symbolic")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise ExportCheckError("graph keeps weights in external data files; the model must be one file")


def _run_torch(scorer: Scorer, x: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], ...]:
    with torch.inference_mode():
        logit, prob = scorer(torch.from_numpy(x))
    return logit.numpy(), prob.numpy()


def check_export(
    path: Path, scorer: Scorer, shape: tuple[int, int, int], *, max_bytes: int = MAX_BYTES
) -> CheckReport:
    """Run every built-in check on the ONNX file at ``path`` against ``scorer`` (eval mode) for
    cutouts of ``shape`` (C, H, W); :class:`ExportCheckError` on the first failure."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ExportCheckError(
            f"{path.name} is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.1f} MiB limit"
        )
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise ExportCheckError(f"onnx.checker (full check) refused the graph: {error}") from error
    model = onnx.load(str(path))
    _check_interface(model, shape)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    report = CheckReport(size_bytes=size, opset=opset)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in CHECK_BATCHES:
        x = check_inputs(batch, *shape, seed=batch)
        want = _run_torch(scorer, x)
        got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        diffs = tuple(_diff(g, w) for g, w in zip(got, want, strict=True))
        report.max_diff[batch] = (diffs[0], diffs[1])
        if any(g.shape != (batch,) for g in got) or max(diffs) > ATOL:
            raise ExportCheckError(
                f"onnxruntime disagrees with torch at batch {batch}: shapes {[g.shape for g in got]}, "
                f"worst difference logit {diffs[0]:.3g}, probability {diffs[1]:.3g} (tolerance {ATOL:g})"
            )
        if batch == max(CHECK_BATCHES):
            singles = [session.run(list(OUTPUT_NAMES), {INPUT_NAME: x[i : i + 1]}) for i in range(batch)]
            joined = [np.concatenate([s[k] for s in singles]) for k in range(len(OUTPUT_NAMES))]
            report.batch_vs_single = max(_diff(g, j) for g, j in zip(got, joined, strict=True))
            if report.batch_vs_single > BATCH_ATOL:
                raise ExportCheckError(
                    f"a batch of {batch} scores differently from {batch} single calls by "
                    f"{report.batch_vs_single:.3g} (tolerance {BATCH_ATOL:g})"
                )
    return report


def export_onnx(
    model: nn.Module,
    path: Path | str,
    shape: tuple[int, int, int],
    *,
    calibration: Mapping[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    max_bytes: int = MAX_BYTES,
) -> CheckReport:
    """Export ``model`` (raw cutouts (N, C, H, W) -> logits (N,); a ``LensFinder``) with the calibration
    (the card's mapping, :func:`baked_constants`; None: none) to ``path`` and check it; the file
    appears only when every check passed."""
    target = Path(path)
    scorer = Scorer(model.eval(), *baked_constants(calibration)).eval()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        start = time.perf_counter()
        _export_graph(scorer, tmp, shape, opset)
        exported = time.perf_counter()
        report = check_export(tmp, scorer, shape, max_bytes=max_bytes)
        report.export_s, report.check_s = exported - start, time.perf_counter() - exported
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return report


def export_model(
    model: nn.Module,
    out_dir: Path | str,
    *,
    name: str,
    version: str,
    input: Mapping[str, Any],
    training: Mapping[str, Any],
    threshold: float,
    threshold_rule: str,
    calibration: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    plots: Mapping[str, str] | None = None,
    meaning: str = MEANING,
    opset: int = DEFAULT_OPSET,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Export ``model`` (a ``training.model.LensFinder``: raw cutouts -> logits (N,)) to
    ``out_dir/model.onnx`` with the built-in checks, write ``out_dir/model.json``; return ``out_dir``.

    ``input`` is the card's input section (see :func:`input_section`), ``training`` its training
    section, ``metrics`` its metrics section (None: not evaluated yet), ``plots`` role -> file name
    relative to ``out_dir`` (the files must already be there), ``meaning`` the card's
    ``output.meaning``. ``calibration`` is the card's ``output.calibration`` mapping (``{"method":
    "platt", "parameters": {"scale": a, "bias": b}}``, or temperature): it bakes probability =
    sigmoid(a * logit + b) into the graph (:func:`baked_constants`); None means no calibration.
    Raises ``ExportCheckError`` (graph), ``app.card.CardError`` (card, or a named plot missing) or
    ``ValueError`` (isotonic calibration); all are checked before anything is written, and a graph that
    fails a check is never written.
    """
    folder = Path(out_dir)
    shape = (len(input["bands"]), int(input["height"]), int(input["width"]))
    git = git_state()
    fields: dict[str, Any] = {
        "name": name, "version": version, "input": input, "training": training, "threshold": threshold,
        "threshold_rule": threshold_rule, "calibration": calibration, "metrics": metrics, "plots": plots,
        "opset": max(opset, 17), "git": git, "meaning": meaning,
    }  # fmt: skip
    build_card(onnx_sha256="0" * 64, **fields)  # fail fast on a bad card, before minutes of export
    baked_constants(calibration)  # and on a calibration the graph cannot hold
    missing = [p for p in (plots or {}).values() if not (folder / p).is_file()]
    if missing:
        raise CardError(folder / CARD_FILE, f"plots: missing file(s) {missing} in {folder}")

    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / ONNX_FILE
    report = export_onnx(model, onnx_path, shape, calibration=calibration, opset=opset, max_bytes=max_bytes)
    fields["opset"] = report.opset
    card = build_card(onnx_sha256=file_sha256(onnx_path), **fields)
    card.verify_files(folder)
    card.write(folder / CARD_FILE)
    log.info("exported %s: %s", folder, asdict(report))
    return folder


if __name__ == "__main__":
    import sys

    from training.export_cli import main

    sys.exit(main())
