"""``lensfinder explain FILE`` (in process and through a service) and ``lensfinder gallery --explain``."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.gallery.page import Card, page
from tests.app.service_helpers import tiny_model
from tests.factories import image_fits, noise

SIZE = 101


def corner_stack(folder: Path) -> Path:
    """Two cutouts with a bright square at rows 60-79, columns 20-39 (what the tiny model's mean sees)."""
    stack = noise((2, SIZE, SIZE), seed=1, scale=0.05)
    stack[:, 60:80, 20:40] += 2.0
    path = folder / "stack.fits"
    path.write_bytes(image_fits(stack))
    return path


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    tiny_model(folder, "space", scale=30.0)
    return folder


def test_explain_in_process_prints_each_cutout_and_writes_png_and_json(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corner_stack(tmp_path)
    out, doc = tmp_path / "o.png", tmp_path / "o.json"
    assert (
        main(["explain", str(path), "--models-dir", str(models), "--out", str(out), "--json", str(doc)]) == 0
    )
    printed = capsys.readouterr().out
    assert "model space 1.0.0, occlusion" in printed
    rows = [line for line in printed.splitlines() if re.match(r"\s+[01]\s", line)]
    assert len(rows) == 2
    assert Image.open(out).size == (2 * (2 * SIZE + 2) * 3 + 6, SIZE * 3)
    body = json.loads(doc.read_text())
    saliency = np.array(body["results"][1]["saliency"])
    row, col = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 55 <= row < 85 and 15 <= col < 45


def test_explain_through_a_service(
    tmp_path: Path, service_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared live service (shipped space and ground models, tests/app/conftest.py)."""
    path = tmp_path / "vis.fits"
    path.write_bytes(image_fits(noise((SIZE, SIZE), seed=3) + np.float32(1e-10) * bump()))
    out, doc = tmp_path / "o.png", tmp_path / "o.json"
    assert main(["explain", str(path), "--url", service_url, "--out", str(out), "--json", str(doc)]) == 0
    assert "model space" in capsys.readouterr().out
    assert Image.open(out).format == "PNG"
    assert np.array(json.loads(doc.read_text())["results"][0]["saliency"]).shape == (SIZE, SIZE)
    assert main(["explain", str(path), "--url", "http://127.0.0.1:9"]) == 1  # nothing listens there


def bump() -> np.ndarray:
    yy, xx = np.mgrid[:SIZE, :SIZE] - SIZE // 2
    return np.exp(-(yy**2 + xx**2) / 18.0).astype(np.float32)


def test_explain_a_file_no_model_takes_exits_1(tmp_path: Path, models: Path) -> None:
    bad = tmp_path / "cube.fits"
    bad.write_bytes(image_fits(noise((4, SIZE, SIZE)), {"BANDS": "u,g,r,i"}))
    assert main(["explain", str(bad), "--models-dir", str(models)]) == 1
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    assert main(["explain", str(junk), "--models-dir", str(models)]) == 1


def test_gallery_heat_map_column(tmp_path: Path, models: Path) -> None:
    from app.cli import table
    from app.client.rows import Row

    path = corner_stack(tmp_path)
    results = tmp_path / "results.csv"
    appender = table.CsvAppender(results)
    appender.write(
        [
            Row(
                file=str(path),
                index=i,
                id=f"c{i}",
                ra=None,
                dec=None,
                probability=0.9 - 0.1 * i,
                is_lens=True,
                model="space",
                model_version="1.0.0",
                threshold=0.5,
                warnings=(),
                error=None,
                error_message=None,
            )
            for i in range(2)
        ]
    )
    appender.close()
    out = tmp_path / "g.html"
    assert main(["gallery", str(results), "--out", str(out), "--explain", "--models-dir", str(models)]) == 0
    text = out.read_text()
    assert text.count('class="card two"') == 2 and text.count('alt="saliency"') == 2
    data = re.search(r'alt="cutout c0".*?<img src="data:image/png;base64,([^"]+)" alt="saliency"', text)
    assert data is not None
    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(data.group(1)))).convert("RGB"), dtype=int)
    assert heat.shape == (SIZE, SIZE, 3)
    # the bright square (rows 60-79 in FITS order: display rows 21-40) is tinted red
    square, elsewhere = heat[25:35, 25:35], heat[80:95, 70:90]
    assert (square[..., 0] - square[..., 2]).mean() > (elsewhere[..., 0] - elsewhere[..., 2]).mean() + 20


def test_a_card_without_heat_is_unchanged() -> None:
    card = Card(1, "f.fits", 0, "x", 0.9, True, None, None, "space 1", "", None, "missing")
    assert 'class="card"' in page("t", "s", [card]) and "pair" not in page("t", "s", [card]).split("<main")[1]
