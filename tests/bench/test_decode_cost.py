"""The decode-cost benchmark's files: each is a layout the service reads, scored by the model it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.card import ModelCard
from app.decode import DecodeLimits
from app.scoring.prepare import Upload, prepare
from bench.decode_cost import STACK, cases

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cards() -> dict[str, ModelCard]:
    return {
        name: ModelCard.load(ROOT / "models" / name / "model.json") for name in ("space", "ground", "rgb")
    }


def test_every_case_is_scoreable_whole_by_the_model_chosen_from_its_bytes(
    cards: dict[str, ModelCard],
) -> None:
    made = cases()
    assert {case.cutouts for case in made} == {1, STACK}
    assert len({case.name for case in made}) == len(made)
    for case in made:
        prepared = prepare(
            [Upload(case.name, case.data)], cards, named=None, limits=DecodeLimits(), max_cutouts=10_000
        )
        assert prepared.model == case.model, case.name
        assert len(prepared.pixels) == case.cutouts, case.name
        (file,) = prepared.files
        assert file.decoded is not None, file.error
        assert all(meta.error is None for meta in file.decoded.cutouts), case.name
