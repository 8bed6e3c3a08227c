"""POST /classify through the real lifespan: every layout, every error code, the model choice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.ood import CODES as OOD_CODES
from tests.app.decode.test_errors import CASES
from tests.app.service_helpers import files, link_shipped, serving, settings, tiny_model, tiny_probability
from tests.factories import (
    cube_fits,
    extension_fits,
    gzip_bytes,
    image_fits,
    mef_fits,
    noise,
    png_bytes,
    png_raw,
    tile_compressed_fits,
)

SIZE = 101


def vis(seed: int = 0, cards: dict[str, Any] | None = None) -> bytes:
    """A 2-D VIS-like cutout: noise and a bright centre."""
    image = noise((SIZE, SIZE), seed=seed)
    image[45:56, 45:56] += 5e-12
    return image_fits(image, cards)


def ground_cube(seed: int = 0) -> bytes:
    return cube_fits(("u", "g", "r", "i"), SIZE, seed=seed)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """space and ground as shipped, and a tiny rgb model (the shipped rgb may not exist yet)."""
    models = tmp_path_factory.mktemp("models")
    link_shipped(models, "space", "ground")
    tiny_model(models, "rgb", bands=("i", "r", "g"), accepts=("png-rgb",), pixel_scale=0.2)
    with serving(settings(models)) as served:
        yield served


def post(client: TestClient, *items: tuple[str, bytes], query: str = "") -> Any:
    return client.post(f"/classify{query}", files=files(*items))


def scored(item: dict[str, Any]) -> bool:
    return "lens_probability" in item


LAYOUTS: list[tuple[str, Callable[[], bytes], str, int]] = [
    ("2-D FITS", vis, "space", 1),
    ("gzip FITS", lambda: gzip_bytes(vis()), "space", 1),
    ("tile-compressed FITS", lambda: tile_compressed_fits(noise((SIZE, SIZE))), "space", 1),
    ("unnamed 3-D stack", lambda: image_fits(noise((5, SIZE, SIZE))), "space", 5),
    (
        "one cutout per HDU",
        lambda: extension_fits([noise((SIZE, SIZE), seed=k) for k in range(3)]),
        "space",
        3,
    ),
    ("cube with BANDS", ground_cube, "ground", 1),
    ("cube in another band order", lambda: cube_fits(("i", "r", "g", "u"), SIZE), "ground", 1),
    ("4-D stack", lambda: image_fits(noise((3, 4, SIZE, SIZE)), {"BANDS": "u,g,r,i"}), "ground", 3),
    ("one band per HDU (FILTER)", lambda: mef_fits(size=SIZE), "ground", 1),
    ("one band per HDU (BAND)", lambda: mef_fits(size=SIZE, key="BAND"), "ground", 1),
    (
        "PNG gray 8-bit",
        lambda: png_bytes((np.arange(SIZE * SIZE).reshape(SIZE, SIZE) % 251).astype(np.uint8), "L"),
        "space",
        1,
    ),
    (
        "PNG gray 16-bit",
        lambda: png_raw(np.arange(SIZE * SIZE).reshape(SIZE, SIZE).astype(np.uint16), 0),
        "space",
        1,
    ),
    ("PNG RGB", lambda: png_bytes(np.full((SIZE, SIZE, 3), 40, np.uint8), "RGB"), "rgb", 1),
]


@pytest.mark.parametrize(("layout", "make", "model", "count"), LAYOUTS, ids=[case[0] for case in LAYOUTS])
def test_every_layout_is_scored_by_the_model_it_fits(
    client: TestClient, layout: str, make: Callable[[], bytes], model: str, count: int
) -> None:
    answer = post(client, ("upload.bin", make()))
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["model"]["name"] == model
    results = body["results"]
    assert [r["index"] for r in results] == list(range(count))
    threshold = body["model"]["threshold"]
    for result in results:
        assert scored(result), result
        assert result["file"] == "upload.bin"
        assert 0.0 <= result["lens_probability"] <= 1.0
        assert result["is_lens"] == (result["lens_probability"] >= threshold)


def decode_codes(result: dict[str, Any]) -> list[str]:
    """The result's warning codes, less the out-of-distribution ones (pure noise is an empty cutout)."""
    return [w["code"] for w in result["warnings"] if w["code"] not in OOD_CODES]


def test_id_and_position_come_from_the_header(client: TestClient) -> None:
    cards = {"OBJECT": "EUC-100001", "RA": 150.25, "DEC": -2.5}
    (result,) = post(client, ("a.fits", vis(cards=cards))).json()["results"]
    assert (result["id"], result["ra"], result["dec"]) == ("EUC-100001", 150.25, -2.5)
    assert decode_codes(result) == []


def test_a_larger_cutout_is_centre_cropped_with_a_warning(client: TestClient) -> None:
    (result,) = post(client, ("big.fits", image_fits(noise((121, 121))))).json()["results"]
    assert decode_codes(result) == ["cropped"]


ERROR_CASES = [case for case in CASES if case[2] is None]


@pytest.mark.parametrize(
    ("code", "make"), [(c[0], c[1]) for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_every_decode_error_is_an_error_item_while_the_rest_is_scored(
    client: TestClient, code: str, make: Callable[[], bytes]
) -> None:
    answer = post(client, ("good.fits", vis()), ("bad.bin", make()), ("good2.fits", vis(1)))
    assert answer.status_code == 200
    good, bad, good2 = answer.json()["results"]
    assert scored(good) and scored(good2)
    assert bad == {
        "file": "bad.bin",
        "index": None,
        "error": {"code": code, "message": bad["error"]["message"]},
    }
    assert bad["error"]["message"]


def test_band_mismatch_of_a_file_against_a_named_model(client: TestClient) -> None:
    answer = post(
        client,
        ("good.fits", ground_cube()),
        ("three.fits", cube_fits(("g", "r", "i"), SIZE)),
        query="?model=ground",
    )
    good, bad = answer.json()["results"]
    assert scored(good)
    assert bad["error"]["code"] == "band_mismatch" and "takes 4" in bad["error"]["message"]


def test_a_mixed_batch_keeps_upload_order_with_per_cutout_errors(client: TestClient) -> None:
    stack = noise((3, SIZE, SIZE))
    stack[1] = 100.0  # the BLF mask value: cutout 1 is all masked
    answer = post(
        client,
        ("stack.fits", image_fits(stack)),
        ("junk.txt", b"junk"),
        ("one.png", png_bytes(np.eye(SIZE, dtype=np.uint8) * 200, "L")),
    )
    results = answer.json()["results"]
    assert [(r["file"], r["index"]) for r in results] == [
        ("stack.fits", 0),
        ("stack.fits", 1),
        ("stack.fits", 2),
        ("junk.txt", None),
        ("one.png", 0),
    ]
    assert [scored(r) for r in results] == [True, False, True, False, True]
    assert results[1]["error"]["code"] == "all_nan" and results[3]["error"]["code"] == "not_fits_or_png"


def test_nothing_to_score_is_422_naming_every_problem(client: TestClient) -> None:
    answer = post(client, ("a.txt", b"hello"), ("b.fits", image_fits(np.full((4, 4), np.nan, np.float32))))
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"]["code"] == "nothing_to_score"
    assert (
        "a.txt: not_fits_or_png" in body["error"]["message"] and "b.fits: all_nan" in body["error"]["message"]
    )
    assert [(p["file"], p["index"], p["error"]["code"]) for p in body["problems"]] == [
        ("a.txt", None, "not_fits_or_png"),
        ("b.fits", None, "all_nan"),
    ]


def test_the_first_usable_file_chooses_the_model_for_the_request(client: TestClient) -> None:
    answer = post(client, ("junk", b"junk"), ("cube.fits", ground_cube()), ("vis.fits", vis()))
    body = answer.json()
    assert body["model"]["name"] == "ground"
    junk, cube, single = body["results"]
    assert junk["error"]["code"] == "not_fits_or_png" and scored(cube)
    assert single["error"]["code"] == "band_mismatch"
    assert "the request's model is ground (chosen from cube.fits)" in single["error"]["message"]


def test_a_named_multi_band_model_reads_an_unnamed_cube_as_one_cutout(client: TestClient) -> None:
    unnamed = image_fits(noise((4, SIZE, SIZE)))
    auto = post(client, ("c.fits", unnamed)).json()
    assert auto["model"]["name"] == "space" and len(auto["results"]) == 4  # a stack of 4 one-band cutouts
    named = post(client, ("c.fits", unnamed), query="?model=ground").json()
    assert named["model"]["name"] == "ground"
    (result,) = named["results"]
    assert decode_codes(result) == ["bands_assumed"]


def test_unknown_model_is_404(client: TestClient) -> None:
    answer = post(client, ("a.fits", vis()), query="?model=hubble")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "unknown_model"
    assert "ground, rgb, space" in answer.json()["error"]["message"]


def test_threshold_overrides_the_card_and_is_checked(client: TestClient) -> None:
    body = post(client, ("a.fits", vis()), query="?threshold=0").json()
    assert body["model"]["threshold"] == 0.0 and body["results"][0]["is_lens"] is True
    body = post(client, ("a.fits", vis()), query="?threshold=1").json()
    assert body["results"][0]["is_lens"] is (body["results"][0]["lens_probability"] >= 1.0)
    for bad in ("1.5", "-0.1", "high"):
        answer = post(client, ("a.fits", vis()), query=f"?threshold={bad}")
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"
        assert "threshold" in answer.json()["error"]["message"]


def test_a_request_without_files_is_400(client: TestClient) -> None:
    answer = client.post("/classify", files=[("file", ("a.fits", vis(), "application/fits"))])
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "no_files"
    assert "'file'" in answer.json()["error"]["message"]
    answer = client.post("/classify", content=b"{}", headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "no_files"
    answer = client.post("/classify", content=b"garbage", headers={"content-type": "multipart/form-data"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_multipart"


def test_a_text_part_named_files_is_an_error_item(client: TestClient) -> None:
    answer = client.post("/classify", data={"files": "not a file"}, files=files(("a.fits", vis())))
    body = answer.json()
    assert answer.status_code == 200
    codes = [r.get("error", {}).get("code") for r in body["results"]]
    assert sorted(codes, key=str) == sorted([None, "not_fits_or_png"], key=str)


def test_no_loaded_model_for_the_input(tmp_path: Path) -> None:
    tiny_model(tmp_path, "space")
    with serving(settings(tmp_path)) as client:
        answer = post(client, ("c.png", png_bytes(np.zeros((SIZE, SIZE, 3), np.uint8), "RGB")))
    assert answer.status_code == 422
    (problem,) = answer.json()["problems"]
    assert problem["error"]["code"] == "no_matching_model"
    assert "png-rgb" in problem["error"]["message"] and "space: fits, png-gray" in problem["error"]["message"]


def test_the_default_model_setting_decides_the_reading(tmp_path: Path) -> None:
    tiny_model(tmp_path, "space")
    tiny_model(tmp_path, "ground", bands=("u", "g", "r", "i"), accepts=("fits",), pixel_scale=0.2)
    cube = np.stack([np.full((SIZE, SIZE), v, np.float32) for v in (0.1, 0.2, 0.3, 0.4)])
    with serving(settings(tmp_path, default_model="ground")) as client:
        body = post(client, ("c.fits", image_fits(cube))).json()
    assert body["model"]["name"] == "ground"
    (result,) = body["results"]
    assert result["lens_probability"] == pytest.approx(float(tiny_probability(cube[None])[0]), abs=1e-6)


def test_scores_are_the_models_own_in_upload_order(tmp_path: Path) -> None:
    tiny_model(tmp_path, "space")
    stack = np.stack([np.full((SIZE, SIZE), v, np.float32) for v in np.linspace(-3, 3, 7)])
    stack[2, :10] = np.nan  # masked rows count as 0 in the tiny model
    with serving(settings(tmp_path)) as client:
        body = post(client, ("s.fits", image_fits(stack)), ("one.fits", image_fits(stack[0] + 1))).json()
    expected = [*tiny_probability(stack[:, None]), tiny_probability(stack[:1, None] + 1)[0]]
    got = [r["lens_probability"] for r in body["results"]]
    np.testing.assert_allclose(got, expected, atol=1e-6)
