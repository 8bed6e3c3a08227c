"""POST /explain through the real lifespan: JSON and PNG answers, both methods, limits and errors."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.app.service_helpers import files, serving, settings, tiny_model, tiny_probability
from tests.factories import cube_fits, image_fits, noise, png_bytes

SIZE = 101


def bright_corner() -> np.ndarray:
    """Noise, with one bright square in rows 60-79, columns 20-39: what the tiny model's mean sees."""
    image = noise((SIZE, SIZE), seed=0, scale=0.05)
    image[60:80, 20:40] += 2.0
    return image


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """Tiny models (sigmoid of 30 x the mean): explanations have a known answer."""
    models = tmp_path_factory.mktemp("models")
    tiny_model(models, "space", scale=30.0)
    tiny_model(models, "ground", bands=("u", "g", "r", "i"), accepts=("fits",), pixel_scale=0.2, scale=30.0)
    tiny_model(models, "rgb", bands=("i", "r", "g"), accepts=("png-rgb",), pixel_scale=0.2, scale=0.02)
    with serving(settings(models, max_batch=64)) as served:
        yield served


def post(client: TestClient, *items: tuple[str, bytes], query: str = "", **kwargs: Any) -> Any:
    return client.post(f"/explain{query}", files=files(*items), **kwargs)


@pytest.mark.parametrize("method", ["occlusion", "lime"])
def test_json_gives_the_probability_and_a_map_where_the_model_looks(client: TestClient, method: str) -> None:
    image = bright_corner()
    answer = post(client, ("a.fits", image_fits(image, {"OBJECT": "A1"})), query=f"?method={method}")
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["model"]["name"] == "space" and body["method"] == method and body["target"] == "log_odds"
    (result,) = body["results"]
    assert (result["file"], result["index"], result["id"]) == ("a.fits", 0, "A1")
    assert result["lens_probability"] == pytest.approx(float(tiny_probability(image[None, None], 30.0)[0]))
    saliency = np.array(result["saliency"])
    assert saliency.shape == (SIZE, SIZE)
    row, col = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 55 <= row < 85 and 15 <= col < 45
    assert (result["segments"] is None) == (method == "occlusion")
    if method == "lime":
        assert np.array(result["segments"]).shape == (SIZE, SIZE)
        assert body["parameters"]["samples"] == 512
    else:
        assert body["parameters"] == {"patch": 10, "stride": 5}


def test_the_probability_is_the_one_classify_gives(client: TestClient) -> None:
    data = image_fits(bright_corner())
    explained = post(client, ("a.fits", data)).json()["results"][0]["lens_probability"]
    classified = client.post("/classify", files=files(("a.fits", data))).json()["results"][0]
    assert explained == classified["lens_probability"]


@pytest.mark.parametrize("how", [{"query": "?format=png"}, {"headers": {"Accept": "image/png"}}])
def test_png_overlay_by_query_or_accept_header(client: TestClient, how: dict[str, Any]) -> None:
    stack = np.stack([bright_corner(), bright_corner() * 0.5])
    answer = post(client, ("s.fits", image_fits(stack)), **how)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.headers["x-lensfinder-model"] == "space 1.0.0"
    assert answer.headers["x-lensfinder-cutouts"] == "0,1"
    assert len(answer.headers["x-lensfinder-probabilities"].split(",")) == 2
    picture = Image.open(io.BytesIO(answer.content))
    # two cutouts, each shown beside its overlay (3x enlarged, 2 px between, 6 px between pairs)
    assert picture.size == (2 * 3 * (2 * SIZE + 2) + 6, 3 * SIZE)
    assert picture.mode == "RGB"


def test_a_four_band_cube_and_a_png(client: TestClient) -> None:
    cube = post(client, ("c.fits", cube_fits(("u", "g", "r", "i"), SIZE)), query="?format=png")
    assert cube.status_code == 200 and cube.headers["x-lensfinder-model"].startswith("ground")
    gray = post(client, ("g.png", png_bytes((bright_corner() * 100).clip(0, 255).astype(np.uint8), "L")))
    assert gray.status_code == 200 and np.array(gray.json()["results"][0]["saliency"]).shape == (SIZE, SIZE)


@pytest.mark.parametrize("method", ["occlusion", "lime"])
def test_a_colour_composite_png(client: TestClient, method: str) -> None:
    levels = np.full((SIZE, SIZE, 3), 20, np.uint8)
    levels[SIZE - 80 : SIZE - 60, 20:40] = 220  # display rows: FITS rows 60-79 once the decoder flips
    answer = post(client, ("c.png", png_bytes(levels, "RGB")), query=f"?method={method}")
    assert answer.status_code == 200 and answer.json()["model"]["name"] == "rgb"
    saliency = np.array(answer.json()["results"][0]["saliency"])
    row, col = np.unravel_index(np.argmax(saliency), saliency.shape)
    assert 55 <= row < 85 and 15 <= col < 45
    picture = post(client, ("c.png", png_bytes(levels, "RGB")), query=f"?method={method}&format=png")
    assert picture.headers["content-type"] == "image/png"


def test_one_file_only(client: TestClient) -> None:
    answer = post(client, ("a.fits", image_fits(bright_corner())), ("b.fits", image_fits(bright_corner())))
    assert answer.status_code == 413
    assert (
        answer.json()["error"]["code"] == "too_many_files" and "one file" in answer.json()["error"]["message"]
    )


def test_a_bounded_number_of_cutouts(client: TestClient) -> None:
    answer = post(client, ("big.fits", image_fits(noise((17, SIZE, SIZE)))))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "too_many_cutouts"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?stride=20&patch=10", 422, "invalid_request"),
        ("?patch=2&stride=1", 422, "invalid_request"),  # 10,001 copies: over the limit
        ("?method=gradcam", 422, "invalid_request"),
        ("?samples=100000&method=lime", 422, "invalid_request"),
        ("?model=hubble", 404, "unknown_model"),
        ("?format=jpeg", 422, "invalid_request"),
    ],
)
def test_bad_parameters(client: TestClient, query: str, status: int, code: str) -> None:
    answer = post(client, ("a.fits", image_fits(bright_corner())), query=query)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_nothing_to_explain_is_422_like_classify(client: TestClient) -> None:
    answer = post(client, ("notes.txt", b"hello"))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"]["code"] == "nothing_to_score"
    assert body["problems"][0]["error"]["code"] == "not_fits_or_png"


def test_a_stack_with_a_bad_cutout_explains_the_others(client: TestClient) -> None:
    stack = np.stack([bright_corner(), np.full((SIZE, SIZE), np.nan, np.float32)])
    results = post(client, ("s.fits", image_fits(stack))).json()["results"]
    assert "saliency" in results[0] and results[1]["error"]["code"] == "all_nan"


def test_metrics_count_explanations(client: TestClient) -> None:
    post(client, ("a.fits", image_fits(bright_corner())), query="?method=lime&samples=64")
    post(client, ("a.fits", image_fits(bright_corner())), ("b.fits", image_fits(bright_corner())))
    text = client.get("/metrics").text
    assert 'lensfinder_explanations_total{method="lime",model="space",outcome="scored"}' in text
    assert 'lensfinder_explanations_total{method="occlusion",model="none",outcome="too_many_files"}' in text
