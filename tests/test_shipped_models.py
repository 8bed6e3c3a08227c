"""Every model shipped in models/ has a valid card that matches its ONNX graph (DESIGN section 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from app.card import ModelCard
from app.registry import load_models

MODELS = Path(__file__).resolve().parent.parent / "models"
SHIPPED = sorted(p.parent.name for p in MODELS.glob("*/model.json"))


def test_the_registry_loads_every_shipped_model() -> None:
    assert sorted(load_models(MODELS)) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_card_matches_graph_and_scores_are_probabilities(name: str) -> None:
    card = ModelCard.load(MODELS / name / "model.json")
    card.verify_files(MODELS / name)
    session = ort.InferenceSession(str(MODELS / name / "model.onnx"), providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert graph_input.name == card.output.input_name
    assert graph_input.shape[1:] == [len(card.input.bands), card.input.height, card.input.width]
    assert [o.name for o in session.get_outputs()] == card.output.output_names
    rng = np.random.default_rng(0)
    cutouts = rng.normal(0.0, 1e-12, (3, *graph_input.shape[1:])).astype(np.float32)
    cutouts[0, :, :5, :5] = np.nan  # masked pixels are part of the contract
    outputs = dict(zip(card.output.output_names, session.run(None, {graph_input.name: cutouts}), strict=True))
    probability = outputs["probability"]
    assert probability.shape == (3,) and np.all((probability >= 0) & (probability <= 1))
    # the same cutouts in another flux unit score the same (DESIGN section 2)
    rescaled = session.run(None, {graph_input.name: cutouts * np.float32(3.7e11)})
    index = card.output.output_names.index("probability")
    np.testing.assert_allclose(rescaled[index], probability, atol=1e-5)
