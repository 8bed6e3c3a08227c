"""The montage command draws one row per kind (lenses first) from a tiny simulated set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from training.montage import TITLE_H, main, pick_rows, render_tile
from training.simulate.run import simulate_set


def test_pick_rows_orders_kinds_lenses_first() -> None:
    kinds = ["star", "lens", "ring", "lens", "spiral", "lens", "lens", "lens", "star"]
    cat = [{"ID": str(i), "is_lens": str(int(k == "lens")), "kind": k} for i, k in enumerate(kinds)]
    rows = pick_rows(cat, cols=2, lens_rows=2)
    assert [kind for kind, _ in rows] == ["lens", "lens", "ring", "spiral", "star"]
    assert all(len(items) <= 2 for _, items in rows)


def test_montage_png(tmp_path: Path) -> None:
    data = simulate_set("ground", 8, 3, tmp_path / "g", progress=False, truth=False)
    tile = render_tile(data, "100000")
    assert tile.shape == (101, 101, 3) and tile.dtype == np.uint8 and tile.std() > 0
    out = tmp_path / "m.png"
    assert main([str(data), "--out", str(out), "--cols", "3", "--scale", "1"]) == 0
    with Image.open(out) as img:
        assert img.mode == "RGB"
        assert img.width == 3 * 103
        assert img.height % (101 + TITLE_H + 2) == 0 and img.height >= 101


def test_montage_space_grayscale(tmp_path: Path) -> None:
    data = simulate_set("space", 3, 3, tmp_path / "s", progress=False, truth=False)
    tile = render_tile(data, "100001")
    assert np.array_equal(tile[:, :, 0], tile[:, :, 1]) and tile.std() > 0


def test_lens_rows_span_the_brightness_range() -> None:
    fluxes = [5.0, 900.0, 40.0, 3000.0, 12.0, 300.0]
    cat = [
        {"ID": str(100 + i), "is_lens": "1", "kind": "lens", "flux_lensed_image_in_sigma": str(f)}
        for i, f in enumerate(fluxes)
    ]
    rows = pick_rows(cat, cols=2, lens_rows=3)
    assert [[float(r["flux_lensed_image_in_sigma"]) for r in items] for _, items in rows] == [
        [900.0, 3000.0],
        [40.0, 300.0],
        [5.0, 12.0],
    ]
