"""Calibration: Platt (a, b) and temperature recovered on synthetic logits, ECE by hand, threshold rules,
the run CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.card import Calibration as CardCalibration
from training.calibrate import (
    apply_calibration,
    calibrate,
    calibrate_run,
    choose_threshold,
    ece,
    fit_platt,
    fit_temperature,
    main,
    nll,
    platt_nll,
    reliability_diagram,
    sigmoid,
)
from training.metrics import at_threshold


def synthetic(temperature: float, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits T times the true log-odds, labels drawn from the true probabilities: the right T is known."""
    rng = np.random.default_rng(seed)
    true_logodds = rng.normal(0.0, 3.0, n)
    labels = (rng.random(n) < sigmoid(true_logodds)).astype(np.int8)
    return true_logodds * temperature, labels


def balanced_network(
    scale: float, lens_fraction: float, n: int = 40_000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """What balanced-batch training gives: logits z that are the log-odds under a 50/50 prior, up to a
    scale (z = (log-odds at 50/50) / scale), for a set whose lens fraction is ``lens_fraction``.

    Each class's log-odds at 50/50 are drawn N(+-1.5, 1.5): then the true probability at the set's
    prior is sigmoid(log-odds at 50/50 + log(f / (1 - f))) = sigmoid(scale * z + bias), bias
    log(f / (1 - f)); labels are drawn at the set's own fraction."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < lens_fraction).astype(np.int8)
    sigma = 1.5
    logodds_50 = rng.normal(np.where(labels == 1, sigma**2 / 2, -(sigma**2) / 2), sigma)
    return logodds_50 / scale, labels


@pytest.mark.parametrize(("scale", "fraction"), [(1.0, 0.7), (0.5, 0.4), (2.0, 0.7)])
def test_fit_platt_recovers_the_scale_and_the_prior_shift(scale: float, fraction: float) -> None:
    logits, labels = balanced_network(scale, fraction)
    a, b = fit_platt(logits, labels)
    assert a == pytest.approx(scale, rel=0.05)
    assert b == pytest.approx(np.log(fraction / (1 - fraction)), abs=0.05)
    value, grad = platt_nll(logits, labels, a, b)
    assert np.abs(grad).max() < 1e-6  # a minimum: the gradient vanishes ...
    for da, db in [(0.02, 0), (-0.02, 0), (0, 0.02), (0, -0.02)]:
        assert platt_nll(logits, labels, a + da, b + db)[0] > value  # ... and every step costs


def test_platt_gradient_is_the_analytic_one_and_matches_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    logits, labels = balanced_network(1.3, 0.7, n=5_000, seed=4)
    _, grad = platt_nll(logits, labels, 0.9, 0.2)
    h = 1e-6
    numeric = [
        (platt_nll(logits, labels, 0.9 + h, 0.2)[0] - platt_nll(logits, labels, 0.9 - h, 0.2)[0]) / (2 * h),
        (platt_nll(logits, labels, 0.9, 0.2 + h)[0] - platt_nll(logits, labels, 0.9, 0.2 - h)[0]) / (2 * h),
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logits[:, None], labels)
    a, b = fit_platt(logits, labels)
    assert (a, b) == pytest.approx((reference.coef_[0, 0], reference.intercept_[0]), abs=1e-4)


def test_fit_platt_stays_positive_and_finite_and_needs_both_classes() -> None:
    separable = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    a, b = fit_platt(separable, [0, 0, 0, 1, 1, 1])
    assert 10 < a <= 100 and np.isfinite(b)  # steep, but bounded: not off to infinity
    a, _ = fit_platt(separable, [1, 1, 1, 0, 0, 0])  # logits that rank backwards
    assert a == pytest.approx(0.01)  # a > 0 always: the ranking is never reversed
    with pytest.raises(ValueError, match="both lenses and non-lenses"):
        fit_platt(separable, np.ones(6))


def test_platt_calibrates_a_shifted_prior_where_temperature_cannot() -> None:
    """The defect: balanced batches make the logit a 50/50 log-odds; on a 70% set a temperature cannot
    shift it, Platt's bias does."""
    logits, labels = balanced_network(1.0, 0.7, n=20_000, seed=5)
    platt = calibrate(logits, labels, method="platt")
    temperature = calibrate(logits, labels, method="temperature")
    assert platt.ece_after < 0.015
    assert temperature.ece_after > 3 * platt.ece_after and temperature.ece_after > 0.03
    assert platt.nll_after < temperature.nll_after
    assert platt.parameters["bias"] == pytest.approx(np.log(0.7 / 0.3), abs=0.06)
    assert platt.lens_fraction == pytest.approx(labels.mean())
    # The ranking is kept: the same cutouts are flagged at the FPR rule's threshold.
    p_platt = apply_calibration(logits, "platt", platt.parameters)
    p_temp = apply_calibration(logits, "temperature", temperature.parameters)
    np.testing.assert_array_equal(p_platt >= platt.threshold, p_temp >= temperature.threshold)


def test_calibrate_defaults_to_platt_and_takes_given_parameters() -> None:
    logits, labels = balanced_network(1.0, 0.7, n=4_000, seed=6)
    result = calibrate(logits, labels)
    assert result.method == "platt" and set(result.parameters) == {"scale", "bias"}
    assert result.card() == {"method": "platt", "parameters": result.parameters}
    fixed = calibrate(logits, labels, method="temperature", parameters={"temperature": 2.0})
    assert fixed.parameters == {"temperature": 2.0}
    np.testing.assert_allclose(
        apply_calibration(logits, "temperature", {"temperature": 2.0}), sigmoid(logits / 2)
    )
    with pytest.raises(ValueError, match="platt or temperature"):
        calibrate(logits, labels, method="isotonic", parameters={"x": [0.0], "y": [0.5]})


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_true_temperature(true_t: float) -> None:
    logits, labels = synthetic(true_t)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(true_t, rel=0.06)
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 0.9), nll(logits, labels, t * 1.1))


def test_ece_by_hand_and_on_calibrated_data() -> None:
    # Bins of width 0.2: 0.2 (fraction 1/2, gap 0.3) and 0.8 (fraction 1, gap 0.2), half the cutouts each.
    assert ece([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1], n_bins=5) == pytest.approx(0.25)
    logits, labels = synthetic(1.0)
    assert ece(sigmoid(logits), labels) < 0.02
    assert ece(sigmoid(3 * logits), labels) > 0.04  # over-confident


def test_choose_threshold_rules() -> None:
    logits, labels = synthetic(2.0, n=5_000, seed=1)
    probs = sigmoid(logits / 2.0)
    threshold, text = choose_threshold(labels, probs, "fpr", 0.01)
    rates = at_threshold(labels, probs, threshold)
    assert rates["fpr"] <= 0.01 and rates["tpr"] > 0.2
    assert text.startswith("false-positive rate <= 0.01 on the validation set") and "TPR" in text
    threshold, text = choose_threshold(labels, probs, "tpr", 0.9)
    assert at_threshold(labels, probs, threshold)["tpr"] >= 0.9
    assert choose_threshold(labels, probs, "fixed", 0.5)[0] == 0.5
    with pytest.raises(ValueError, match="unknown threshold rule"):
        choose_threshold(labels, probs, "best", 0.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["platt", "temperature", "isotonic"])
def test_calibrate_improves_calibration_and_fits_the_card(method: str, tmp_path: Path) -> None:
    logits, labels = synthetic(3.0, n=8_000, seed=2)
    result = calibrate(logits, labels, method=method, diagram=tmp_path / "rel.png")  # type: ignore[arg-type]
    assert result.ece_after < result.ece_before / 3
    assert result.nll_after < result.nll_before
    assert (tmp_path / "rel.png").stat().st_size > 1000
    card = CardCalibration(method=result.method, parameters=result.parameters)  # the card's own check
    assert card.method == method
    if method == "temperature":
        assert result.parameters["temperature"] == pytest.approx(3.0, rel=0.08)
    elif method == "platt":  # prior 50/50 already: the bias stays near 0
        assert result.parameters["scale"] == pytest.approx(1 / 3.0, rel=0.08)
        assert abs(result.parameters["bias"]) < 0.1
    else:
        assert len(result.parameters["x"]) > 2


def test_reliability_diagram_reports_both_eces(tmp_path: Path) -> None:
    logits, labels = synthetic(2.0, n=3_000)
    out = reliability_diagram(sigmoid(logits / 2.0), labels, tmp_path / "r.png", before=sigmoid(logits))
    assert out["ece"] < out["ece_before"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_calibrate_run_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logits, labels = synthetic(2.0, n=4_000, seed=3)
    np.savez(
        tmp_path / "val_predictions.npz",
        logits=logits.astype(np.float32),
        labels=labels,
        kinds=np.array(["lens"] * labels.size),
        ids=np.arange(labels.size),
    )
    result = calibrate_run(tmp_path)
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert saved["method"] == "platt" and saved["parameters"] == pytest.approx(result.parameters)
    assert saved["lens_fraction"] == pytest.approx(labels.mean())
    assert CardCalibration(method=saved["method"], parameters=saved["parameters"]).method == "platt"
    assert (tmp_path / "reliability.png").is_file()
    assert main([str(tmp_path), "--out", str(tmp_path / "iso"), "--method", "isotonic"]) == 0
    assert "isotonic" in capsys.readouterr().out
    assert json.loads((tmp_path / "iso" / "calibration.json").read_text())["method"] == "isotonic"
