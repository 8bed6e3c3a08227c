"""Out-of-distribution warnings through POST /classify with the shipped models and their cards'
training statistics: a cutout like the simulated training data gets none; each way of breaking it
gets its code; /metrics counts them by code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.card import ModelCard
from tests.app.ood.cutouts import SIGMA, box_blur, galaxy, gray_png_levels, linear_png_levels
from tests.app.service_helpers import SHIPPED, files, link_shipped, serving, settings
from tests.factories import image_fits, png_bytes

pytestmark = pytest.mark.skipif(
    any(ModelCard.load(SHIPPED / n / "model.json").input_statistics is None for n in ("space", "ground")),
    reason="the shipped cards have no input_statistics",
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    models = tmp_path_factory.mktemp("models")
    link_shipped(models, "space", "ground")
    with serving(settings(models)) as served:
        yield served


def warnings_of(client: TestClient, data: bytes, query: str = "") -> list[str]:
    answer = client.post(f"/classify{query}", files=files(("cutout", data)))
    assert answer.status_code == 200, answer.json()
    (result,) = answer.json()["results"]
    return [w["code"] for w in result["warnings"]]


def png(levels: np.ndarray) -> bytes:
    return png_bytes(np.flipud(levels[0]).astype(np.uint8), "L")


def test_cutouts_like_the_training_data_get_no_warning(client: TestClient) -> None:
    for seed in range(3):
        assert warnings_of(client, image_fits(galaxy((150.0,), width_px=3.0, seed=seed)[0])) == []
        assert warnings_of(client, png(gray_png_levels(galaxy((150.0,), width_px=3.0, seed=seed)))) == []
        cube = galaxy((20.0, 100.0, 150.0, 120.0), width_px=3.5, seed=seed)
        assert warnings_of(client, image_fits(cube, {"BANDS": "u,g,r,i"})) == []


def _saturated() -> bytes:
    return image_fits(np.minimum(galaxy((3000.0,)), np.float32(300 * SIGMA))[0])


def _hot() -> bytes:
    x = galaxy((150.0,))[0]
    x[5, 5] = 1e7 * SIGMA
    return image_fits(x)


def _masked_cube() -> bytes:
    cube = galaxy((20.0, 100.0, 150.0, 120.0), width_px=3.5)
    cube[:, :, :40] = np.nan
    return image_fits(cube, {"BANDS": "u,g,r,i"})


CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("noise_level_unusual", lambda: image_fits(galaxy((5.0,), width_px=5.0)[0]), ""),  # faint: SNR 5
    ("noise_correlated", lambda: image_fits(box_blur(galaxy((300.0,), width_px=3.0))[0]), ""),
    ("dynamic_range_unusual", _hot, ""),
    ("saturated", _saturated, ""),
    ("psf_size_unusual", lambda: image_fits(galaxy((300.0,), width_px=15.0)[0]), ""),
    ("png_stretch_unusual", lambda: png(linear_png_levels(galaxy((300.0,), width_px=3.0))), ""),
    ("too_many_masked", _masked_cube, ""),
    ("empty_cutout", lambda: image_fits(galaxy((0.0,))[0]), ""),
    ("pixel_scale_mismatch", lambda: image_fits(galaxy((150.0,), width_px=3.0)[0], {"PIXSCALE": 0.2}), ""),
    ("bands_assumed", lambda: image_fits(galaxy((20.0, 100.0, 150.0, 120.0), width_px=3.5)), "?model=ground"),
]


@pytest.mark.parametrize(("code", "make", "query"), CASES, ids=[c[0] for c in CASES])
def test_each_warning_through_classify(
    client: TestClient, code: str, make: Callable[[], bytes], query: str
) -> None:
    assert code in warnings_of(client, make(), query)


def test_metrics_count_warnings_by_code(client: TestClient) -> None:
    warnings_of(client, image_fits(galaxy((0.0,))[0]))
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith('lensfinder_warnings_total{code="empty_cutout"'))
    assert float(line.split()[-1]) >= 1.0
    assert 'model="space"' in line


def test_the_shipped_cards_name_every_kind_they_accept() -> None:
    for name in ("space", "ground"):
        card = ModelCard.load(SHIPPED / name / "model.json")
        stats: Any = card.input_statistics
        assert sorted(stats.by_input) == sorted(card.input.accepts)
        assert stats.pixel_scale_arcsec == card.input.pixel_scale_arcsec
