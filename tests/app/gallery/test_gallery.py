"""``lensfinder gallery``: the HTML page's content, and a screenshot in headless Chromium."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main, table
from app.client import discover
from app.client.rows import Row
from app.gallery.page import sexagesimal
from app.gallery.thumbs import render
from tests.factories import image_fits, noise


def lens_like(folder: Path) -> Path:
    """Six u,g,r,i cubes (a red galaxy inside a blue ring, on noise) and five VIS images (a galaxy and
    an arc): what a gallery of candidates looks like."""
    folder.mkdir()
    yy, xx = np.mgrid[:101, :101]
    radius = np.hypot(yy - 50, xx - 50)
    galaxy = np.exp(-((radius / 5.0) ** 2))
    ring = np.exp(-(((radius - 15.0) / 2.0) ** 2))
    colours = {"u": (0.1, 1.0), "g": (0.3, 1.2), "r": (1.0, 0.5), "i": (1.6, 0.3)}  # (galaxy, ring)
    for k in range(6):
        cube = np.stack([noise((101, 101), seed=10 * k + j) + 3e-11 * (a * galaxy + b * ring)
                         for j, (a, b) in enumerate(colours.values())])  # fmt: skip
        (folder / f"ground{k}.fits").write_bytes(image_fits(cube, {"BANDS": "u,g,r,i", "OBJECT": f"g{k}"}))
    for k in range(5):
        image = noise((101, 101), seed=100 + k) + 3e-11 * (galaxy + (ring * (xx > 50)))
        (folder / f"vis{k}.fits").write_bytes(image_fits(image, {"OBJECT": f"v{k}"}))
    return folder


def results(folder: Path, out: Path) -> list[Row]:
    """A results table over ``lens_like`` files with made-up probabilities (descending in input order
    for the scored ones) and one error row."""
    sources = discover([folder])
    rows = [
        Row(file=s.key, index=0, id=f"<id{k}>", ra=150.0 + k, dec=-2.5, probability=0.99 - 0.01 * k,
            is_lens=k < 3, model="ground" if k < 6 else "space", model_version="1.1.0", threshold=0.96,
            warnings=("cropped",) if k == 1 else (), error=None, error_message=None)
        for k, s in enumerate(sources)
    ]  # fmt: skip
    rows.append(
        Row("missing.fits", None, None, None, None, None, None, None, None, None, (), "not_fits_or_png", "x")
    )
    appender = table.CsvAppender(out)
    appender.write(rows)
    appender.close()
    return rows


def test_gallery_shows_the_top_candidates_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "results.csv"
    rows = results(lens_like(tmp_path / "in"), csv)
    page = tmp_path / "gallery.html"
    assert main(["gallery", str(csv), "--top", "8", "--out", str(page)]) == 0
    assert "8 candidates" in capsys.readouterr().out
    text = page.read_text()
    ids = re.findall(r'data-id="([^"]*)"', text)
    assert ids == [f"&lt;id{k}&gt;" for k in range(8)]  # escaped, highest probability first
    assert "<id0>" not in text and "p = 0.9900" in text and "cropped" in text and "missing.fits" not in text
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 8
    modes = [Image.open(io.BytesIO(base64.b64decode(data))).mode for data in images]
    assert modes == ["RGB"] * 6 + ["L"] * 2  # u,g,r,i cubes in colour, VIS images in gray
    assert text.count('class="lens"') == 3 and sexagesimal(rows[0].ra or 0, -2.5) in text


def test_thumbnails_follow_band_names() -> None:
    cube = np.random.default_rng(0).normal(size=(4, 21, 21)).astype(np.float32)
    assert render(cube, ("u", "g", "r", "i")).kind == "colour"
    assert render(cube, None).kind == "colour"  # four unnamed planes: the ground model's u, g, r, i
    assert render(cube[:1], ("vis",)).kind == "gray"
    assert sexagesimal(150.0, -2.5) == "10:00:00.00 -02:30:00.0"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium here (Debian: apt-get install chromium)")
def test_the_gallery_renders_in_headless_chromium(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    results(lens_like(tmp_path / "in"), csv)
    page = tmp_path / "gallery.html"
    assert main(["gallery", str(csv), "--top", "11", "--out", str(page)]) == 0
    shot = tmp_path / "shot.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size=1200,900", f"--screenshot={shot}", page.as_uri()]  # fmt: skip
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert image.shape[:2] == (900, 1200)
    assert image.std() > 20  # not blank: dark page, light text, cutouts
    # the thumbnails are drawn: many distinct colours, and the colour composites' red galaxies and blue
    # rings cover far more of the page than the few coloured labels do
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 2000
    assert np.mean(image[..., 0] - image[..., 2] > 40) > 0.005
    assert np.mean(image[..., 2] - image[..., 0] > 40) > 0.005
