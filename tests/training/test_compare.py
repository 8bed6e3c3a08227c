"""The architecture comparison on a tiny in-code set: every network trains, is exported and scored,
the page and the JSON hold one row each, and a rerun reuses finished rows instead of retraining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.training.blf_factory import separable_set
from training.compare import main, overfitting


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    train = separable_set(root / "train", 60)
    test = separable_set(root / "test", 30, seed=1)
    config = root / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data": {"train": str(train)},
                "progress": False,
                "width": 4,
                "depth": 1,
                "batch_size": 16,
                "steps_per_epoch": 2,
                "eval_batch_size": 64,
            }
        )
    )
    argv = ["--config", str(config), "--test", str(test), "--archs", "logistic", "cnn", "--subset", "60",
            "--epochs", "2", "--work", str(root / "work"), "--out", str(root / "out" / "ARCH.md"),
            "--seconds", "0.05"]  # fmt: skip
    assert main(argv) == 0
    return root


def test_page_and_json_have_a_row_per_network(compared: Path) -> None:
    page = (compared / "out" / "ARCH.md").read_text()
    assert "| `logistic` (w4, d1) |" in page and "| `cnn` (w4, d1) |" in page
    assert "python -m training.compare --config" in page
    assert (compared / "out" / "architectures-curves.png").stat().st_size > 1000
    rows = json.loads((compared / "out" / "architectures.json").read_text())["rows"]
    assert [r["arch"] for r in rows] == ["logistic", "cnn"]
    for row in rows:
        assert 0.0 <= row["test"]["auc"] <= 1.0 and row["test"]["n_nonlenses"] == 10
        assert row["parameters"] > 0 and row["cutouts_per_s"] > 0 and row["epochs"] == 2
    assert rows[0]["parameters"] == 101 * 101 + 1  # logistic regression on the pixels


def test_rerun_reuses_finished_rows(compared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = compared / "work" / "cnn" / "result.json"
    before = result.stat().st_mtime_ns
    argv = ["--config", str(compared / "tiny.yaml"), "--test", str(compared / "test"), "--archs", "cnn",
            "--subset", "60", "--epochs", "2", "--work", str(compared / "work"),
            "--out", str(compared / "again.md")]  # fmt: skip
    assert main(argv) == 0
    assert "cnn: done before" in capsys.readouterr().out
    assert result.stat().st_mtime_ns == before
    # --remeasure measures throughput again without retraining; the metrics stay
    row = json.loads(result.read_text())
    assert main([*argv, "--remeasure", "--seconds", "0.05"]) == 0
    again = json.loads(result.read_text())
    assert again["test"] == row["test"] and again["cutouts_per_s"] > 0


def test_overfitting_flag() -> None:
    def hist(tr: list[float], va: list[float]) -> list[dict[str, float]]:
        return [{"train_loss": t, "val_loss": v} for t, v in zip(tr, va, strict=True)]

    assert overfitting(hist([0.6, 0.4, 0.2], [0.5, 0.45, 0.6]))["overfits"]
    assert not overfitting(hist([0.6, 0.4, 0.2], [0.5, 0.45, 0.44]))["overfits"]
    assert overfitting(hist([0.6, 0.4, 0.2], [0.5, 0.45, 0.6]))["min_val_loss_epoch"] == 2
