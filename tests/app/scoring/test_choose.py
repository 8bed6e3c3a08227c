"""The model choice from the input: format and band count, then band names, then name order."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.card import ModelCard
from app.decode import decode_bytes
from app.scoring.choose import choose, no_model_message
from tests.app.service_helpers import tiny_model
from tests.factories import cube_fits, image_fits, png_bytes


def cards(tmp_path: Path, *specs: tuple[str, tuple[str, ...], tuple[str, ...]]) -> dict[str, ModelCard]:
    found = {}
    for name, bands, accepts in specs:
        folder = tiny_model(tmp_path, name, bands=bands, accepts=accepts, size=11)
        found[name] = ModelCard.load(folder / "model.json")
    return found


def test_format_and_band_count_choose(tmp_path: Path) -> None:
    loaded = cards(
        tmp_path,
        ("space", ("vis",), ("fits", "png-gray")),
        ("ground", ("u", "g", "r", "i"), ("fits",)),
        ("rgb", ("i", "r", "g"), ("png-rgb",)),
    )
    assert choose(decode_bytes(image_fits(np.ones((11, 11), np.float32)), "a"), loaded) == "space"
    assert choose(decode_bytes(png_bytes(np.ones((11, 11), np.uint8), "L"), "a"), loaded) == "space"
    assert choose(decode_bytes(cube_fits(size=11), "a"), loaded) == "ground"
    assert choose(decode_bytes(png_bytes(np.ones((11, 11, 3), np.uint8), "RGB"), "a"), loaded) == "rgb"
    three = decode_bytes(cube_fits(("g", "r", "i"), 11), "three.fits")
    assert choose(three, loaded) is None
    message = no_model_message(three, loaded)
    assert "three.fits is fits with 3 band(s) ['g', 'r', 'i']" in message
    assert "ground: fits with bands ['u', 'g', 'r', 'i']" in message and "?model=" in message


def test_band_names_break_a_tie_then_the_name(tmp_path: Path) -> None:
    loaded = cards(
        tmp_path,
        ("a-ugri", ("u", "g", "r", "i"), ("fits",)),
        ("b-griz", ("g", "r", "i", "z"), ("fits",)),
    )
    assert choose(decode_bytes(cube_fits(("g", "r", "i", "z"), 11), "x"), loaded) == "b-griz"
    assert (
        choose(decode_bytes(image_fits(np.ones((4, 11, 11), np.float32)), "x", channels=4), loaded)
        == "a-ugri"
    )
