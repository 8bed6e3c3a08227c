"""LensFinder: raw pixels in any flux unit, NaN masks, one logit per cutout; load_run rebuilds it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.model import LensFinder, build_model, load_run
from training.nets import build_net


def _cutouts(n: int = 4, c: int = 1, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1e-12, size=(n, c, 101, 101)).astype(np.float32)
    yy, xx = np.mgrid[:101, :101]
    x += (5e-12 * np.exp(-((yy - 50) ** 2 + (xx - 50) ** 2) / 50.0)).astype(np.float32)
    return torch.from_numpy(x)


def test_flux_scale_free_and_nan_safe() -> None:
    torch.manual_seed(0)
    model = LensFinder(build_net("cnn", 2, width=8, depth=1)).eval()
    x = _cutouts(c=2)
    with torch.no_grad():
        base = model(x)
        assert base.shape == (4,)
        for factor in (1e12, 3.7, 1e-3):
            assert torch.allclose(model(x * factor), base, atol=1e-4)
        masked = x.clone()
        masked[:, :, 10:13, 10:13] = float("nan")
        out = model(masked)
    assert torch.isfinite(out).all()


def test_load_run_rebuilds_the_model(tmp_path: Path) -> None:
    config = {"arch": "deeplens", "width": 8, "depth": 1, "dropout": 0.0, "resolved": {"in_channels": 1}}
    model = build_model(config).eval()
    torch.save(
        {"state_dict": model.state_dict(), "config": config, "epoch": 3, "val_auc": 0.9}, tmp_path / "best.pt"
    )
    loaded, cfg = load_run(tmp_path)
    assert cfg["arch"] == "deeplens"
    assert not loaded.training
    x = _cutouts()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
