"""Evaluation of an ONNX model: a tiny hand-built graph with the export contract's input and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from app.card import InputMetrics
from tests.training.blf_factory import make_blf
from training.augment import d4, through_png
from training.calibrate import sigmoid
from training.evaluate import (
    STRETCHES,
    evaluate_onnx,
    graph_calibration,
    main,
    model_inputs,
    open_session,
    render_png,
    score_onnx,
    select_planes,
)
from training.metrics import lens_metrics

SCALE, BIAS = 0.5, 0.85  # Platt's a and b, as training.export bakes them in


def tiny_onnx(path: Path, channels: int, scale: float = SCALE, bias: float = BIAS) -> Path:
    """``logit = (mean(centre 11x11) - mean(all)) / std(all) + mean(bottom-left quadrant) / std(all)``
    over all planes (NaN as 0), ``probability = sigmoid(a * logit + b)``: flux-scale free, and not
    symmetric under rotations (the quadrant), so test-time augmentation changes it."""
    f = TensorProto.FLOAT

    def const(name: str, values: list[int] | list[float], dtype: int = TensorProto.INT64) -> onnx.TensorProto:
        return helper.make_tensor(name, dtype, [len(values)], values)

    nodes = [
        helper.make_node("IsNaN", ["cutouts"], ["isnan"]),
        helper.make_node("Where", ["isnan", "zero", "cutouts"], ["x"]),
        helper.make_node("ReduceMean", ["x", "axes"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["x", "x"], ["x2"]),
        helper.make_node("ReduceMean", ["x2", "axes"], ["mean2"], keepdims=0),
        helper.make_node("Mul", ["mean", "mean"], ["mean_sq"]),
        helper.make_node("Sub", ["mean2", "mean_sq"], ["var"]),
        helper.make_node("Add", ["var", "eps"], ["var_eps"]),
        helper.make_node("Sqrt", ["var_eps"], ["std"]),
        helper.make_node("Slice", ["x", "c_start", "c_end", "hw"], ["centre"]),
        helper.make_node("ReduceMean", ["centre", "axes"], ["centre_mean"], keepdims=0),
        helper.make_node("Slice", ["x", "q_start", "q_end", "hw"], ["quadrant"]),
        helper.make_node("ReduceMean", ["quadrant", "axes"], ["quadrant_mean"], keepdims=0),
        helper.make_node("Sub", ["centre_mean", "mean"], ["contrast"]),
        helper.make_node("Add", ["contrast", "quadrant_mean"], ["raw"]),
        helper.make_node("Div", ["raw", "std"], ["logit"]),
        helper.make_node("Mul", ["logit", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["shifted"]),
        helper.make_node("Sigmoid", ["shifted"], ["probability"]),
    ]
    inits = [
        helper.make_tensor("zero", f, [], [0.0]),
        helper.make_tensor("eps", f, [], [1e-30]),
        helper.make_tensor("scale", f, [], [scale]),
        helper.make_tensor("bias", f, [], [bias]),
        const("axes", [1, 2, 3]),
        const("hw", [2, 3]),
        const("c_start", [45, 45]),
        const("c_end", [56, 56]),
        const("q_start", [0, 0]),
        const("q_end", [50, 50]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("cutouts", f, ["batch", channels, 101, 101])],
        [
            helper.make_tensor_value_info("logit", f, ["batch"]),
            helper.make_tensor_value_info("probability", f, ["batch"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(model, full_check=True)
    path.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path / "model.onnx")
    return path


def reference_logit(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(x.astype(np.float64))
    std = x.std(axis=(1, 2, 3))
    raw = (
        x[..., 45:56, 45:56].mean(axis=(1, 2, 3))
        - x.mean(axis=(1, 2, 3))
        + x[..., :50, :50].mean(axis=(1, 2, 3))
    )
    return raw / std


def cutouts(n: int, channels: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise at BLF scale; "lenses" (every other cutout) get a faint central blob; some NaN pixels."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1e-12, (n, channels, 101, 101)).astype(np.float32)
    labels = (np.arange(n) % 2).astype(np.int8)
    yy, xx = np.mgrid[:101, :101]
    blob = np.exp(-((yy - 50) ** 2 + (xx - 50) ** 2) / 18.0) * 1e-12
    x += (labels[:, None, None, None] * rng.uniform(0.2, 2.0, (n, 1, 1, 1)) * blob).astype(np.float32)
    x[::5, :, 10, 10] = np.nan
    kinds = np.where(labels == 1, "lens", np.where(np.arange(n) % 4 == 0, "ring", "galaxy"))
    return x, labels, kinds


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("models") / "tiny", channels=1)


def test_score_onnx_matches_the_graph_and_does_not_depend_on_batching(model: Path) -> None:
    x, _, _ = cutouts(23)
    session = open_session(model)
    scored = score_onnx(session, x, batch_size=256)
    np.testing.assert_allclose(scored.logits, reference_logit(x), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(scored.probabilities, sigmoid(SCALE * scored.logits + BIAS), atol=1e-6)
    again = score_onnx(session, x, batch_size=5)
    np.testing.assert_allclose(again.logits, scored.logits, atol=1e-5)


def test_tta_averages_the_logits_of_the_eight_views(model: Path) -> None:
    x, _, _ = cutouts(12)
    session = open_session(model)
    scored = score_onnx(session, x, tta=True)
    views = [score_onnx(session, d4(x, k)).logits for k in range(8)]
    np.testing.assert_allclose(scored.logits, np.mean(views, axis=0), atol=1e-5)
    np.testing.assert_allclose(scored.plain_logits, views[0], atol=1e-6)
    assert not np.allclose(scored.logits, scored.plain_logits, atol=1e-3)  # the quadrant term rotates
    # The probability of the averaged logit uses the graph's own (a, b), read off its outputs.
    np.testing.assert_allclose(scored.probabilities, sigmoid(SCALE * scored.logits + BIAS), atol=1e-5)


@pytest.mark.parametrize(("scale", "bias"), [(SCALE, BIAS), (1 / 1.7, 0.0), (2.0, -1.2)])
def test_graph_calibration_reads_scale_and_bias_back(tmp_path: Path, scale: float, bias: float) -> None:
    """Platt (a, b), or a temperature T as (1/T, 0), recovered from the graph's (logit, probability)."""
    folder = tiny_onnx(tmp_path / "m", channels=1, scale=scale, bias=bias)
    x, _, _ = cutouts(30, seed=3)
    scored = score_onnx(open_session(folder), x)
    a, b = graph_calibration(scored.plain_logits, scored.plain_probabilities)
    assert (a, b) == pytest.approx((scale, bias), abs=1e-4)
    assert graph_calibration(scored.plain_logits[:1], scored.plain_probabilities[:1]) == (1.0, 0.0)


def test_graph_calibration_leaves_saturated_probabilities_out() -> None:
    logits = np.linspace(-60.0, 60.0, 241).astype(np.float32)
    probs = sigmoid(0.8 * logits.astype(np.float64) + 0.7).astype(np.float32)
    assert (probs == 1.0).sum() > 50  # float32 rounds these to 1: their log-odds say nothing
    assert graph_calibration(logits, probs) == pytest.approx((0.8, 0.7), abs=1e-4)


def test_evaluate_onnx_writes_metrics_and_plots(model: Path, tmp_path: Path) -> None:
    x, labels, kinds = cutouts(40)
    result = evaluate_onnx(
        model, x, labels, kinds, threshold=0.6, tta=True, out=tmp_path, meta={"input": "fits"}
    )
    logits = score_onnx(open_session(model), x, tta=True).logits
    assert result["metrics"] == pytest.approx(lens_metrics(labels, logits))
    assert result["input"] == "fits" and result["n"] == 40 and result["tta"]
    assert set(result["fpr_by_kind"]) == {"galaxy", "ring"}
    assert result["tta_gain"]["time_factor"] > 2  # eight views cost several plain passes
    InputMetrics.model_validate(result["card"])  # the card's metrics section takes it as it is
    assert result["card"]["auc"] == result["plain"]["metrics"]["auc"]  # the service scores one view
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["at_threshold"]["threshold"] == 0.6
    for name in ("roc.png", "scores.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_render_png_default_is_the_training_path_and_stretches_differ() -> None:
    x, _, _ = cutouts(3)
    default = render_png(x, "gray", ("vis",))
    np.testing.assert_array_equal(default, through_png(x, "gray"))
    for name in ("soft", "hard", "gamma", "dark"):
        other = render_png(x, "gray", ("vis",), name)
        assert other.shape == (3, 1, 101, 101) and np.nanmin(other) >= 0 and np.nanmax(other) <= 255
        assert not np.array_equal(other, default), name
    assert (
        render_png(x, "gray", ("vis",), "gamma").mean()
        > default.mean()
        > render_png(x, "gray", ("vis",), "dark").mean()
    )
    with pytest.raises(ValueError, match="only changes colours"):
        render_png(x, "gray", ("vis",), "tinted")
    with pytest.raises(ValueError, match="unknown stretch"):
        render_png(x, "gray", ("vis",), "sepia")
    ugri, _, _ = cutouts(2, channels=4)
    assert render_png(ugri, "rgb", ("u", "g", "r", "i"), "tinted").shape == (2, 3, 101, 101)
    assert set(STRETCHES) >= {"default", "soft", "hard", "gamma"}


def test_select_planes_and_model_inputs() -> None:
    x, _, _ = cutouts(2, channels=4)
    assert select_planes(x, ("u", "g", "r", "i"), ("u", "g", "r", "i")) is x  # no copy in order
    np.testing.assert_array_equal(select_planes(x, ("u", "g", "r", "i"), ("i", "g")), x[:, [3, 1]])
    with pytest.raises(ValueError, match="no \\['z'\\]"):
        select_planes(x, ("u", "g", "r", "i"), ("z",))
    with pytest.raises(ValueError, match="colour composites give planes i, r, g"):
        model_inputs(x, ("u", "g", "r", "i"), ("u", "g", "r", "i"), "rgb")


def test_cli_fits_and_png_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_blf(tmp_path / "ground", "ground", n=12)
    make_blf(tmp_path / "space", "space", n=12)
    ground4 = tiny_onnx(tmp_path / "m4", channels=4)
    rgb = tiny_onnx(tmp_path / "m3", channels=3)
    space = tiny_onnx(tmp_path / "m1", channels=1)

    assert main(["--model", str(ground4), "--data", str(tmp_path / "ground"), "--limit", "8"]) == 0
    saved = json.loads((ground4 / "evaluation" / "ground_fits" / "metrics.json").read_text())
    assert saved["n"] == 8 and saved["threshold"] == 0.5 and "no card" in saved["threshold_source"]

    out = tmp_path / "rgb-eval"
    args = ["--model", str(rgb), "--data", str(tmp_path / "ground"), "--png", "rgb"]
    assert main([*args, "--stretch", "default,tinted", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"ground_png-rgb", "ground_png-rgb-tinted"}
    table = capsys.readouterr().out
    assert "png-rgb:tinted" in table and "false-positive rate at the threshold" in table

    args = ["--model", str(space), "--data", str(tmp_path / "space"), "--png", "gray", "--tta"]
    assert main([*args, "--out", str(tmp_path / "g"), "--threshold", "0.7"]) == 0
    saved = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert saved["input"] == "png-gray" and saved["tta"] and saved["threshold_source"] == "--threshold"
    assert "png-gray +TTA (no TTA)" in capsys.readouterr().out
