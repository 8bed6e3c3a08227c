"""The card's optional ``input_statistics`` section: old cards stay valid, new ones are checked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.card import CardError, ModelCard
from tests.factories import card_data


def quantiles(base: float = 0.0) -> dict[str, Any]:
    return {"n": 100, "p0.1": base, "p1": base + 1, "p50": base + 2, "p99": base + 3, "p99.9": base + 4}


def section(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "description": "quantiles of app.ood.stats",
        "data": "simulated space set",
        "pixel_scale_arcsec": 0.1,
        "psf": {"fwhm_arcsec": {"vis": quantiles(0.1)}, "note": "from the simulator"},
        "by_input": {
            "fits": {
                "n": 20000,
                "rendering": None,
                "masked_fraction": quantiles(),
                "planes": {
                    "norm_max": {"vis": quantiles(2.0)},
                    "some_future_statistic": {"vis": quantiles()},
                },
            }
        },
    }
    data.update(changes)
    return data


def test_a_card_without_the_section_is_valid_and_reads_none() -> None:
    data = card_data()
    assert "input_statistics" not in data
    assert ModelCard.from_dict(data).input_statistics is None


def test_a_card_with_the_section_round_trips() -> None:
    card = ModelCard.from_dict(card_data(input_statistics=section()))
    stats = card.input_statistics
    assert stats is not None and stats.by_input["fits"].planes["norm_max"]["vis"].p99_9 == 6.0
    assert ModelCard.parse(card.to_json()) == card
    assert '"p99.9": 6.0' in card.to_json()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: s["by_input"].update({"png-rgb": s["by_input"]["fits"]}), "png-rgb"),
        (lambda s: s["by_input"]["fits"]["planes"]["norm_max"].update({"u": quantiles()}), "bands"),
        (lambda s: s["psf"].update({"fwhm_arcsec": {}}), "every band"),
        (lambda s: s["by_input"]["fits"]["masked_fraction"].update({"p50": -5.0}), "non-decreasing"),
        (lambda s: s["by_input"]["fits"]["planes"].update({"Bad Name": {"vis": quantiles()}}), "pattern"),
        (lambda s: s["by_input"]["fits"].update({"n": 0}), "greater than or equal to 1"),
        (lambda s: s.update({"by_input": {}}), "at least 1"),
    ],
)
def test_a_bad_section_is_refused_naming_the_field(change: Any, words: str) -> None:
    bad = copy.deepcopy(section())
    change(bad)
    with pytest.raises(CardError, match=words):
        ModelCard.from_dict(card_data(input_statistics=bad))
