"""The training loop on tiny in-code BLF sets: loss falls, the run dir holds the contract's files, resume
is exact, config overrides parse, batches are balanced, the PNG input modes run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from astropy.io import fits

from tests.training.blf_factory import separable_set
from training.model import load_run
from training.train import main, train
from training.trainer import artifacts
from training.trainer.batches import balanced_batches, load_split, training_augmenter, validation_pixels
from training.trainer.config import ConfigError, apply_overrides, load_config, resolve


@pytest.fixture(scope="module")
def space_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return separable_set(tmp_path_factory.mktemp("space"), 96)


def _config(data: Path, out: Path, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data": {"train": str(data)},
        "out": str(out),
        "run_name": "run",
        "progress": False,
        "arch": "cnn",
        "width": 8,
        "depth": 1,
        "dropout": 0.0,
        "batch_size": 16,
        "epochs": 3,
        "steps_per_epoch": 6,
        "patience": 10,
        "lr": 1e-2,
        "augment": {"strength": 0.0},
    }
    cfg.update(extra)
    return cfg


def test_loss_falls_and_run_dir_holds_the_contract(space_set: Path, tmp_path: Path) -> None:
    run = train(_config(space_set, tmp_path))
    for name in ("config.yaml", "best.pt", "last.pt", "history.json", "curves.png", "val_predictions.npz"):
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_auc"] for h in history) > 0.8
    assert set(history[0]) >= {"train_loss", "val_loss", "val_auc", "lr", "seconds"}
    best = torch.load(run / "best.pt", map_location="cpu", weights_only=False)
    assert set(best) == {"state_dict", "config", "epoch", "val_auc"}
    assert best["val_auc"] == max(h["val_auc"] for h in history)
    preds = np.load(run / "val_predictions.npz")
    assert preds["logits"].shape == preds["labels"].shape == preds["ids"].shape == preds["kinds"].shape
    assert len(preds["ids"]) == round(0.2 * 96)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["arch"] == "cnn" and saved["resolved"]["in_channels"] == 1
    assert saved["resolved"]["flops_per_cutout"] > 0
    model, cfg = load_run(run)
    assert cfg["resolved"]["bands"] == ["vis"]
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 1e-12, (2, 1, 101, 101)).astype(np.float32))
    with torch.no_grad():
        assert model(x).shape == (2,)


def test_resume_continues_exactly(space_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = train(_config(space_set, tmp_path / "a", epochs=2, steps_per_epoch=3))
    real = artifacts.write_curves

    def crash_after_first_epoch(run_dir: Path, history: list[dict[str, Any]], title: str) -> None:
        real(run_dir, history, title)
        raise KeyboardInterrupt  # as if killed right after the epoch's checkpoint

    monkeypatch.setattr(artifacts, "write_curves", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(_config(space_set, tmp_path / "b", epochs=2, steps_per_epoch=3))
    monkeypatch.setattr(artifacts, "write_curves", real)
    interrupted = tmp_path / "b" / "run"
    assert len(json.loads((interrupted / "history.json").read_text())) == 1
    resumed = train({"progress": False}, resume=interrupted)
    a = torch.load(straight / "last.pt", map_location="cpu", weights_only=False)
    b = torch.load(resumed / "last.pt", map_location="cpu", weights_only=False)
    assert b["epoch"] == 2
    for key, value in a["state_dict"].items():
        assert torch.allclose(value.float(), b["state_dict"][key].float(), atol=1e-6), key
    for ha, hb in zip(a["history"], b["history"], strict=True):
        assert ha["train_loss"] == pytest.approx(hb["train_loss"], rel=1e-5)
        assert ha["val_auc"] == pytest.approx(hb["val_auc"])


def test_existing_run_is_not_overwritten(space_set: Path, tmp_path: Path) -> None:
    train(_config(space_set, tmp_path, epochs=1, steps_per_epoch=1))
    with pytest.raises(FileExistsError):
        train(_config(space_set, tmp_path, epochs=1, steps_per_epoch=1))


def test_cli_runs_with_config_file_and_overrides(
    space_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_config(space_set, tmp_path / "runs", epochs=1, steps_per_epoch=2)))
    assert main(["--config", str(path), "arch=logistic", "lr=1e-2", "run_name=cli"]) == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert yaml.safe_load((run / "config.yaml").read_text())["arch"] == "logistic"
    assert main(["--config", str(path), "nonsense=1"]) == 2


def test_png_gray_and_rgb_inputs_run(space_set: Path, tmp_path: Path) -> None:
    run = train(_config(space_set, tmp_path / "gray", input="png-gray", epochs=1, steps_per_epoch=2))
    assert load_run(run)[1]["resolved"]["in_channels"] == 1
    ground = separable_set(tmp_path / "ground", 24, kind="ground")
    rgb_aug = {"strength": 0.5, "png_stretch": "random"}  # randomised composites, as training/configs/rgb
    run = train(
        _config(ground, tmp_path / "rgb", input="png-rgb", epochs=1, steps_per_epoch=2, augment=rgb_aug)
    )
    _, cfg = load_run(run)
    assert cfg["resolved"]["in_channels"] == 3 and cfg["resolved"]["bands"] == ["i", "r", "g"]
    run = train(_config(ground, tmp_path / "fits", epochs=1, steps_per_epoch=1))
    assert load_run(run)[1]["resolved"]["bands"] == ["u", "g", "r", "i"]


def test_balanced_batches() -> None:
    labels = np.array([1] * 30 + [0] * 5)
    batches = balanced_batches(labels, 8, 10, seed=0, epoch=0)
    assert len(batches) == 10
    for b in batches:
        assert len(b) == 8 and int(labels[b].sum()) == 4
    # the rarer class is cycled through whole permutations: 40 non-lens draws = each of the 5 eight times
    drawn = np.concatenate([b[labels[b] == 0] for b in batches])
    assert np.array_equal(np.bincount(drawn - 30, minlength=5), np.full(5, 8))
    lens_draws = np.concatenate([b[labels[b] == 1] for b in batches])
    assert len(set(lens_draws.tolist())) == 30  # 40 lens draws cover all 30 lenses before repeating
    again = balanced_batches(labels, 8, 10, seed=0, epoch=0)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    other = balanced_batches(labels, 8, 10, seed=0, epoch=1)
    assert not all(np.array_equal(x, y) for x, y in zip(batches, other, strict=True))


def test_overrides_parse_nested_keys_and_types(tmp_path: Path) -> None:
    cfg = resolve({})
    out = apply_overrides(
        cfg,
        [
            "lr=1e-3",
            "data.train=/x",
            "subset=512",
            "strength=0.3",
            "use_d4=false",
            "epochs=3",
            "data.rgb_bands=i,r,g",
            "run_name=null",
            "weight_decay=0",
        ],
    )
    assert out["lr"] == pytest.approx(1e-3) and isinstance(out["lr"], float)
    assert out["data"]["train"] == "/x" and out["data"]["subset"] == 512
    assert out["augment"]["strength"] == pytest.approx(0.3) and out["augment"]["use_d4"] is False
    assert out["epochs"] == 3 and out["data"]["rgb_bands"] == ["i", "r", "g"]
    assert isinstance(out["weight_decay"], float) and out["run_name"] is None
    assert cfg["lr"] != out["lr"] or cfg["lr"] == 1e-3  # the input config is not modified in place
    with pytest.raises(ConfigError, match="unknown config key"):
        apply_overrides(cfg, ["learning_rate=1"])
    with pytest.raises(ConfigError, match="expected int"):
        apply_overrides(cfg, ["epochs=many"])
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(cfg, ["epochs"])
    path = tmp_path / "c.yaml"
    path.write_text("arch: deeplens\ndata:\n  train: data/ground\naugment:\n  strength: 0.7\n")
    loaded = load_config(path, ["width=16"])
    assert (loaded["arch"], loaded["width"], loaded["data"]["train"]) == ("deeplens", 16, "data/ground")
    assert loaded["augment"]["strength"] == 0.7 and loaded["augment"]["use_d4"] is True
    with pytest.raises(ConfigError, match="arch"):
        load_config(path, ["arch=vgg"])
    with pytest.raises(ConfigError, match="strength"):
        load_config(path, ["strength=2"])


@pytest.mark.parametrize("name", ["space", "ground", "rgb"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_config(Path(__file__).parents[2] / "training" / "configs" / f"{name}.yaml")
    assert cfg["name"] == name and cfg["epochs"] >= 1


def test_png_stretch_key_trains_random_and_validates_on_the_default() -> None:
    from training.trainer.batches import make_augmenter

    cfg = resolve({"input": "png-rgb"})
    assert cfg["augment"]["png_stretch"] == "default"
    cfg = apply_overrides(cfg, ["png_stretch=random"])
    bands = ("i", "r", "g")
    assert make_augmenter(cfg, bands, train=True).png_stretch == "random"
    assert make_augmenter(cfg, bands, train=False).png_stretch == "default"
    with pytest.raises(ConfigError, match="png_stretch"):
        resolve({"augment": {"png_stretch": "viewer"}})
    rgb = load_config(Path(__file__).parents[2] / "training" / "configs" / "rgb.yaml")
    assert rgb["augment"]["png_stretch"] == "random" and rgb["input"] == "png-rgb"


def test_hardware_is_described() -> None:
    import torch

    from training.trainer.loop import describe_hardware

    line = describe_hardware(torch.device("cpu"))
    assert line.startswith("CPU ") and "torch threads" in line


def test_rgb_training_renders_the_same_planes_as_validation(tmp_path: Path) -> None:
    # Regression: the training augmenter was told the model's planes (i, r, g) while it is given the
    # data set's (u, g, r, i), so it rendered u, g, r as the composite and validation AUC stayed ~0.55.
    ground = separable_set(tmp_path / "ground", 12, kind="ground")
    for k, band in enumerate(("u", "g", "r", "i")):  # make the bands tell apart: band k is (k+1) x brighter
        for path in (ground / "Public").glob(f"*/imageSDSS_{band.upper()}-*.fits"):
            with fits.open(path, mode="update") as hdul:
                hdul[0].data = hdul[0].data * (k + 1) + (k + 1) * 1e-12
    cfg = resolve(_config(ground, tmp_path, input="png-rgb", augment={"strength": 0.0}))
    split = load_split(cfg, progress=False)
    images = np.asarray(split.dataset.images[split.val[:4]], dtype=np.float32)
    trained = training_augmenter(cfg, split)(images, np.random.default_rng(0))
    validated = next(validation_pixels(split, cfg, chunk=4))
    np.testing.assert_array_equal(trained, validated)
