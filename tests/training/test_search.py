"""The hyper-parameter search on a tiny in-code set: trials run and are summarised (table, plot, JSON
with the best values), a rerun continues the saved study, and values map to config overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.training.blf_factory import separable_set
from training.search import SPACE, main, overrides_of
from training.trainer.config import apply_overrides, load_config


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search")
    train = separable_set(root / "train", 48)
    config = root / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(
            {"data": {"train": str(train)}, "progress": False, "batch_size": 16, "steps_per_epoch": 2}
        )
    )
    assert main(["--config", str(config), "--trials", "2", "--subset", "48", "--epochs", "2",
                 "--out", str(root / "out"), "width=4"]) == 0  # fmt: skip
    return root


def test_summary_files(searched: Path) -> None:
    out = searched / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials_finished"] + summary["trials_pruned"] == 2
    assert set(summary["best_params"]) == set(SPACE)
    assert 0.0 <= summary["best_val_auc"] <= 1.0
    page = (out / "summary.md").read_text()
    assert page.count("| complete |") + page.count("| pruned |") == 2
    assert (out / "search.png").stat().st_size > 1000 and (out / "study.db").is_file()


def test_rerun_continues_the_study(searched: Path) -> None:
    argv = ["--config", str(searched / "tiny.yaml"), "--trials", "3", "--subset", "48", "--epochs", "1",
            "--out", str(searched / "out"), "width=4"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((searched / "out" / "summary.json").read_text())
    assert summary["trials_finished"] + summary["trials_pruned"] == 3


def test_values_become_valid_overrides() -> None:
    values = {"lr": 1e-3, "weight_decay": 1e-4, "width": 16, "depth": 3, "strength": 0.25}
    config = apply_overrides(load_config(), overrides_of(values))
    assert config["augment"]["strength"] == 0.25 and config["width"] == 16 and config["lr"] == 1e-3
