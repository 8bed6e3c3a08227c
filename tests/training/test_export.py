"""ONNX export: the graph's contract (names, shapes, symbolic batch), its built-in checks, and the card."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import training.export as export
from app.card import CardError, ModelCard, file_sha256
from training.card_fields import MEANING, calibration_mapping, input_section, meaning
from training.export import (
    ExportCheckError,
    Scorer,
    baked_constants,
    check_export,
    check_inputs,
    export_model,
    export_onnx,
)
from training.model import LensFinder
from training.nets import build_net

A, B = 0.83, 0.7  # Platt scale and bias, as fitted on a 70%-lens validation set
PLATT = {"method": "platt", "parameters": {"scale": A, "bias": B}}


def tiny_model(seed: int = 0, channels: int = 1) -> LensFinder:
    torch.manual_seed(seed)
    return LensFinder(build_net("cnn", channels, width=2, depth=1, dropout=0.0)).eval()


def training_section() -> dict[str, Any]:
    return {
        "data": {
            "source": "tiny simulated set", "simulator_version": "1", "seed": 1,
            "counts": {"train": 8, "val": 4, "test": 0}, "label_rule": "visible",
        },
        "architecture": "cnn", "parameters": 100, "flops_per_cutout": 1e6, "epochs": 1, "best_epoch": 1,
        "val_auc": 0.5, "augmentation": {}, "search": None, "wall_time_s": 1.0, "hardware": "test",
        "config": {"arch": "cnn"},
    }  # fmt: skip


def card_kwargs(bands: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": "tiny",
        "version": "0.0.1",
        "input": input_section(bands or ["vis"], pixel_scale_arcsec=0.1, accepts=["fits"]),
        "training": training_section(),
        "threshold": 0.5,
        "threshold_rule": "test",
        "calibration": PLATT,
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LensFinder]:
    model = tiny_model()
    folder = export_model(model, tmp_path_factory.mktemp("models") / "tiny", **card_kwargs())
    return folder, model


def test_graph_interface_and_symbolic_batch(exported: tuple[Path, LensFinder]) -> None:
    graph = onnx.load(str(exported[0] / "model.onnx")).graph
    assert [i.name for i in graph.input] == ["cutouts"]
    assert [o.name for o in graph.output] == ["logit", "probability"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[0] and dims[1:] == [1, 101, 101]
    for output in graph.output:
        (batch,) = output.type.tensor_type.shape.dim
        assert batch.dim_param == dims[0]


def test_onnxruntime_matches_torch_at_other_batches_with_nan(exported: tuple[Path, LensFinder]) -> None:
    folder, model = exported
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (2, 13):
        x = check_inputs(batch, 1, 101, 101, seed=100 + batch)
        assert np.isnan(x).any() and np.isinf(x).any()
        logit, prob = session.run(None, {"cutouts": x})
        assert logit.shape == prob.shape == (batch,) and np.isfinite(logit).all()
        with torch.inference_mode():
            want = model(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(logit, want, atol=1e-4, rtol=1e-4)
        # Platt scaling is in the graph: probability = sigmoid(a * logit + b).
        z = logit.astype(np.float64)
        np.testing.assert_allclose(prob, 1 / (1 + np.exp(-(A * z + B))), atol=1e-6)


def test_baked_constants_of_each_calibration() -> None:
    assert baked_constants(PLATT) == (A, B)
    assert baked_constants({"method": "temperature", "parameters": {"temperature": 2.0}}) == (0.5, 0.0)
    assert baked_constants({"method": "none", "parameters": {}}) == baked_constants(None) == (1.0, 0.0)
    with pytest.raises(ValueError, match="isotonic calibration cannot be baked"):
        baked_constants({"method": "isotonic", "parameters": {"x": [0.0, 1.0], "y": [0.2, 0.8]}})
    with pytest.raises(ValueError, match="scale must be a finite positive"):
        Scorer(tiny_model(), scale=-1.0)
    with pytest.raises(ValueError, match="bias must be finite"):
        Scorer(tiny_model(), bias=math.inf)


def test_temperature_is_baked_as_scale_one_over_t(tmp_path: Path) -> None:
    model = tiny_model(seed=1)
    calibration = {"method": "temperature", "parameters": {"temperature": 1.7}}
    export_onnx(model, tmp_path / "t.onnx", (1, 101, 101), calibration=calibration)
    session = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    logit, prob = session.run(None, {"cutouts": check_inputs(5, 1, 101, 101, seed=5)})
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logit.astype(np.float64) / 1.7)), atol=1e-6)


def test_isotonic_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    kwargs = card_kwargs() | {
        "calibration": {"method": "isotonic", "parameters": {"x": [-1.0, 1.0], "y": [0.1, 0.9]}}
    }
    with pytest.raises(ValueError, match="cannot be baked into the ONNX graph"):
        export_model(tiny_model(), tmp_path / "iso", **kwargs)
    assert not (tmp_path / "iso").exists()


def test_card_calibration_mapping_and_meaning() -> None:
    assert calibration_mapping(None) == {"method": "none", "parameters": {}}
    mapping = calibration_mapping(
        {"method": "platt", "parameters": {"scale": np.float64(A), "bias": B}, "n": 3}
    )
    assert mapping == PLATT and type(mapping["parameters"]["scale"]) is float
    assert "(0.7)" in meaning(0.7) and "sky's ~1e-3" in meaning(0.7) and meaning() == MEANING
    assert "validation set" in MEANING and "training prior" not in MEANING


def test_graph_is_flux_scale_free(exported: tuple[Path, LensFinder]) -> None:
    """The normalisation is in the graph: the same cutout in another flux unit scores the same."""
    session = ort.InferenceSession(str(exported[0] / "model.onnx"), providers=["CPUExecutionProvider"])
    x = check_inputs(4, 1, 101, 101, seed=3)
    (a,) = session.run(["logit"], {"cutouts": x})
    (b,) = session.run(["logit"], {"cutouts": (x * np.float32(3.7e5)).astype(np.float32)})
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_card_validates_and_names_the_file_hash(exported: tuple[Path, LensFinder]) -> None:
    folder = exported[0]
    card = ModelCard.load(folder / "model.json")
    assert card.identity.onnx_sha256 == file_sha256(folder / "model.onnx")
    assert card.identity.opset >= 17 and card.identity.name == "tiny"
    assert card.output.calibration.method == "platt"
    assert card.output.calibration.parameters == {"scale": A, "bias": B}
    assert (card.output.input_name, card.output.output_names) == ("cutouts", ["logit", "probability"])
    assert card.input.preprocessing.in_graph and card.metrics is None
    commit, dirty = export.git_state()
    assert (card.identity.git_commit, card.identity.git_dirty) == (commit, dirty)
    card.verify_files(folder)
    size = (folder / "model.onnx").stat().st_size
    assert size < 1_000_000, size


def test_check_catches_a_graph_that_differs_from_torch(
    exported: tuple[Path, LensFinder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, model = exported
    with pytest.raises(ExportCheckError, match=r"disagrees with torch at batch 1"):
        check_export(folder / "model.onnx", Scorer(model, A, B + 0.5), (1, 101, 101))

    class Shifted(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = self.inner(x) + 0.01
            return logits

    real = export._export_graph

    def broken(scorer: Scorer, path: Path, shape: tuple[int, int, int], opset: int) -> None:
        real(Scorer(Shifted(scorer.model), scorer.scale, scorer.bias), path, shape, opset)

    monkeypatch.setattr(export, "_export_graph", broken)
    out = tmp_path / "broken"
    with pytest.raises(ExportCheckError, match=r"logit 0\.01"):
        export_model(tiny_model(), out, **card_kwargs())
    assert sorted(p.name for p in out.iterdir()) == []  # nothing half-written is left


def test_check_catches_fixed_batch_size_and_size_limits(
    exported: tuple[Path, LensFinder], tmp_path: Path
) -> None:
    folder, model = exported
    graph = onnx.load(str(folder / "model.onnx"))
    graph.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 7
    fixed = tmp_path / "fixed.onnx"
    onnx.save(graph, str(fixed))
    with pytest.raises(ExportCheckError, match=r"'cutouts'.*shape \[7, 1, 101, 101\]"):
        check_export(fixed, Scorer(model, A, B), (1, 101, 101))
    with pytest.raises(ExportCheckError, match=r"over the .* MiB limit"):
        check_export(folder / "model.onnx", Scorer(model, A, B), (1, 101, 101), max_bytes=1000)


def test_check_compares_one_batch_with_single_calls(
    exported: tuple[Path, LensFinder], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, model = exported
    monkeypatch.setattr(export, "BATCH_ATOL", -1.0)  # any difference, even 0, now fails
    with pytest.raises(ExportCheckError, match=r"batch of 64 scores differently from 64 single calls"):
        check_export(folder / "model.onnx", Scorer(model, A, B), (1, 101, 101))


def test_bad_card_fails_before_any_export(tmp_path: Path) -> None:
    kwargs = card_kwargs(bands=["VIS"])
    with pytest.raises(CardError, match=r"input\.bands"):
        export_model(tiny_model(), tmp_path / "m", **kwargs)
    assert not (tmp_path / "m").exists()


def test_check_inputs_cover_the_hard_cases() -> None:
    x = check_inputs(7, 4, 101, 101)
    finite = np.abs(x[np.isfinite(x)])
    assert x.dtype == np.float32 and np.isnan(x).any() and np.isinf(x).any()
    assert np.isnan(x).reshape(7 * 4, -1).all(axis=1).any()  # one plane entirely masked
    scales = [np.nanmedian(np.abs(c[np.isfinite(c)])) for c in x]
    assert math.log10(max(scales) / min(scales)) > 3 and finite.max() < 1e9


def test_git_dirty_counts_code_changes_but_not_the_exported_model_folder(tmp_path: Path) -> None:
    import subprocess

    from training.card_fields import git_state

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "models" / "space").mkdir(parents=True)
    (tmp_path / "models" / "space" / "model.json").write_text("{}")
    (tmp_path / "train.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert git_state(tmp_path)[1] is False
    (tmp_path / "models" / "space" / "model.json").write_text('{"new": 1}')  # what an export rewrites
    assert git_state(tmp_path)[1] is False
    (tmp_path / "train.py").write_text("x = 2\n")
    assert git_state(tmp_path)[1] is True
