"""One onnxruntime session per model: padded batch sizes, batch invariance, graph-card checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.card import ModelCard
from app.inference.providers import ProviderPlan
from app.inference.session import ModelLoadError, ModelSession, padded_sizes
from tests.app.service_helpers import SHIPPED, tiny_model, tiny_onnx, tiny_probability

CPU = ProviderPlan("cpu", 1024)


def session(folder: Path, max_batch: int = 64) -> ModelSession:
    return ModelSession(folder, ModelCard.load(folder / "model.json"), CPU, max_batch=max_batch, threads=1)


def raw_cutouts(n: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1e-12, (n, channels, 101, 101)).astype(np.float32)
    x[:, :, 45:56, 45:56] += rng.uniform(0, 5e-12, (n, channels, 1, 1)).astype(np.float32)
    x[::3, :, :4, :4] = np.nan  # masked corners in some
    return x


def test_padded_sizes() -> None:
    assert padded_sizes(64) == (1, 8, 32, 64)
    assert padded_sizes(16) == (1, 8, 16)
    assert padded_sizes(8) == (1, 8)
    assert padded_sizes(1) == (1,)
    assert padded_sizes(100) == (1, 8, 32, 100)
    # on the CPU every power of two: the batcher then forms batches of exactly these sizes
    assert padded_sizes(64, cpu=True) == (1, 2, 4, 8, 16, 32, 64)
    assert padded_sizes(100, cpu=True) == (1, 2, 4, 8, 16, 32, 64, 100)
    assert padded_sizes(1, cpu=True) == (1,)


@pytest.mark.parametrize("name", ["space", "ground"])
def test_a_cutout_scores_the_same_bit_for_bit_whatever_batch_it_lands_in(name: str) -> None:
    model = session(SHIPPED / name, max_batch=32)
    channels = model.shape[0]
    x = raw_cutouts(32, channels)
    reference = model.run(x)
    assert reference.shape == (32,) and np.all((reference >= 0) & (reference <= 1))
    for n in (1, 2, 7, 8, 9, 31):  # every padded size (1, 8, 32), full or padded with zero rows
        for start in (0, 32 - n):
            scores = model.run(x[start : start + n])
            np.testing.assert_array_equal(scores, reference[start : start + n])  # bit for bit
    assert model.size_for(9) == 16 and model.size_for(1) == 1 and model.size_for(32) == 32


def test_warm_up_runs_every_size_and_marks_warm(tmp_path: Path) -> None:
    model = session(tiny_model(tmp_path, "tiny"), max_batch=16)
    assert not model.warmed and model.provider == "CPUExecutionProvider"
    assert model.warm_up() >= 0.0 and model.warmed


def test_scores_of_the_tiny_model_are_what_it_computes(tmp_path: Path) -> None:
    model = session(tiny_model(tmp_path, "tiny"), max_batch=8)
    x = np.random.default_rng(1).uniform(-2, 2, (5, 1, 101, 101)).astype(np.float32)
    np.testing.assert_allclose(model.run(x), tiny_probability(x), atol=1e-6)
    with pytest.raises(ValueError, match="exceed the max batch"):
        model.run(np.zeros((9, 1, 101, 101), np.float32))


def test_a_graph_that_does_not_match_its_card_stops_start_up(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path, "wrong", onnx_bytes=tiny_onnx(4))  # card says 1 band
    with pytest.raises(ModelLoadError, match=r"wrong/model\.onnx.*the card says \[batch, 1, 101, 101\]"):
        session(folder)


def test_an_unreadable_onnx_file_names_the_file(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path, "broken", onnx_bytes=b"not a graph")
    with pytest.raises(ModelLoadError, match=r"broken/model\.onnx: onnxruntime cannot load it"):
        session(folder)
