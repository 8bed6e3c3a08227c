"""``python -m training.export``: a run directory to a model folder, then the card's metrics updated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.card import ModelCard
from training.calibrate import calibrate_run, fit_platt
from training.export import check_inputs
from training.export_cli import deep_merge, main
from training.model import build_model
from training.trainer.config import resolve


def fake_run(folder: Path) -> Path:
    """A run directory as training.train writes it, for a tiny one-band cnn (untrained weights)."""
    config: dict[str, Any] = resolve({"name": "space", "arch": "cnn", "width": 2, "depth": 1, "dropout": 0.0})
    config["resolved"] = {
        "in_channels": 1, "bands": ["vis"], "data_bands": ["vis"], "pixel_scale_arcsec": 0.1,
        "n_train": 80, "n_val": 20, "parameters": 321, "flops_per_cutout": 2.0e6,
        "simulation": {"simulator_version": "1.2", "set": "space", "seed": 1}, "data_root": "data/tiny",
    }  # fmt: skip
    torch.manual_seed(0)
    model = build_model(config)
    folder.mkdir()
    torch.save(
        {"state_dict": model.state_dict(), "config": config, "epoch": 2, "val_auc": 0.8}, folder / "best.pt"
    )
    history = [
        {"epoch": e, "train_loss": 0.6, "val_loss": 0.6, "val_auc": 0.8, "lr": 1e-3, "seconds": 5.0}
        for e in (1, 2)
    ]
    (folder / "history.json").write_text(json.dumps(history))
    rng = np.random.default_rng(0)
    labels = (rng.random(400) < 0.7).astype(np.int64)  # the set's own lens fraction, not 50/50
    np.savez(folder / "val_predictions.npz", logits=rng.normal(labels * 3.0 - 1.5, 1.5), labels=labels)
    return folder


def graph_outputs(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(logit, probability) of the exported graph on a few test cutouts, in float64."""
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    logit, prob = session.run(None, {"cutouts": check_inputs(7, 1, 101, 101, seed=7)})
    return logit.astype(np.float64), prob.astype(np.float64)


def evaluate_json(path: Path, key: str) -> Path:
    """A metrics.json shaped as training.evaluate writes it (only the keys the export reads)."""
    card = {"auc": 0.97, "tpr0": 0.1, "tpr10": 0.3, "n_nonlenses": 300, "n_lenses": 700,
            "tpr_at_fpr_1e-2": 0.8, "tpr_at_fpr_1e-3": None, "accuracy": 0.9,
            "hard_negative_fpr": {"ring": {"n": 30, "fpr": 0.1}}}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"input": key, "data": "data/space-test", "n": 1000, "card": card}))
    return path


def test_export_a_run_then_update_the_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = fake_run(tmp_path / "run")
    out = tmp_path / "models" / "space"
    assert main(["--run", str(run), "--out", str(out), "--version", "0.1.0"]) == 0
    card = ModelCard.load(out / "model.json")
    assert card.input.bands == ["vis"] and card.input.accepts == ["fits", "png-gray"]
    assert card.input.stretch is not None and card.input.stretch.name == "gray-asinh"
    # Platt by default, fitted on the run's validation predictions and baked into the graph.
    with np.load(run / "val_predictions.npz") as val:
        a, b = fit_platt(val["logits"], val["labels"])
        fraction = float(val["labels"].mean())
    assert card.output.calibration.method == "platt"
    assert card.output.calibration.parameters == pytest.approx({"scale": a, "bias": b})
    logit, prob = graph_outputs(out)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-(a * logit + b))), atol=1e-6)
    assert "0.01 on the validation" in card.output.threshold_rule
    assert f"lens fraction ({fraction:.3g})" in card.output.meaning
    assert card.training.data.counts.train == 80 and card.training.epochs == 2
    assert card.training.best_epoch == 2 and card.training.wall_time_s == 10.0
    assert card.metrics is None and card.plots == {"reliability": "reliability.png"}
    card.verify_files(out)
    assert "wrote" in capsys.readouterr().out

    metrics = evaluate_json(out / "evaluation" / "fits" / "metrics.json", "fits")
    gray = evaluate_json(out / "evaluation" / "gray" / "metrics.json", "png-gray")
    (out / "evaluation" / "fits" / "roc.png").write_bytes(b"png")
    argv = ["--update", str(out), "--metrics", str(metrics), "--metrics", str(gray),
            "--plot", "roc=evaluation/fits/roc.png"]  # fmt: skip
    assert main(argv) == 0
    updated = ModelCard.load(out / "model.json")
    assert updated.metrics is not None and set(updated.metrics.by_input) == {"fits", "png-gray"}
    assert updated.metrics.by_input["fits"].tpr_at_fpr_1e_3 is None
    assert updated.training.data.counts.test == 1000 and "data/space-test" in updated.metrics.test_data
    assert updated.identity == card.identity and updated.plots["roc"] == "evaluation/fits/roc.png"


def test_calibration_file_and_temperature_override(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = fake_run(tmp_path / "run")
    temperature = calibrate_run(run, tmp_path / "t", method="temperature")
    out = tmp_path / "from-file"
    assert (
        main(
            ["--run", str(run), "--out", str(out), "--calibration", str(tmp_path / "t" / "calibration.json")]
        )
        == 0
    )
    card = ModelCard.load(out / "model.json")
    assert card.output.calibration.method == "temperature"
    assert card.output.threshold == pytest.approx(temperature.threshold) and card.plots == {}
    t = temperature.parameters["temperature"]
    logit, prob = graph_outputs(out)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logit / t)), atol=1e-6)

    out = tmp_path / "override"
    argv = ["--run", str(run), "--out", str(out), "--temperature", "2.0", "--threshold", "0.8"]
    assert main(argv) == 0
    card = ModelCard.load(out / "model.json")
    assert card.output.calibration.parameters == {"temperature": 2.0}
    assert (card.output.threshold, card.output.threshold_rule) == (0.8, "given at export: 0.8")
    logit, prob = graph_outputs(out)
    np.testing.assert_allclose(prob, 1 / (1 + np.exp(-logit / 2.0)), atol=1e-6)

    calibrate_run(run, tmp_path / "iso", method="isotonic")
    with pytest.raises(SystemExit, match="'isotonic' cannot be baked into the graph"):
        main(
            [
                "--run",
                str(run),
                "--out",
                str(tmp_path / "x"),
                "--calibration",
                str(tmp_path / "iso" / "calibration.json"),
            ]
        )
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(
            ["--run", str(run), "--out", str(tmp_path / "x"), "--calibration", "c.json", "--temperature", "2"]
        )
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_metrics_are_refused_with_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = fake_run(tmp_path / "run")
    out = tmp_path / "space"
    bad = evaluate_json(tmp_path / "m.json", "png-rgb")  # the model does not take colour composites
    argv = ["--run", str(run), "--out", str(out), "--threshold", "0.5", "--metrics", str(bad)]
    assert main(argv) == 1
    assert "metrics.by_input key 'png-rgb'" in capsys.readouterr().err
    assert not (out / "model.onnx").exists()


def test_deep_merge_merges_dicts_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    assert deep_merge(base, {"a": {"c": [2]}, "e": 3}) == {"a": {"b": 1, "c": [2]}, "d": 2, "e": 3}
