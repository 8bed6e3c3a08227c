"""Start-up of the ASGI application through its real lifespan, and the read-only routes.

Start-up creates an onnxruntime session per model, so the test model folders hold a tiny real graph.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.card import CardError
from app.config import Settings
from app.inference.providers import DeviceError
from app.inference.session import ModelLoadError
from app.main import NoModelsError, StartupError, create_app
from tests.app.service_helpers import cuda_available, tiny_onnx
from tests.factories import model_folder as _model_folder


def model_folder(models_dir: Path, name: str) -> Path:
    return _model_folder(models_dir, name, onnx=tiny_onnx(1))


def test_start_up_without_models_fails_with_a_clear_message(tmp_path: Path) -> None:
    app = create_app(Settings(models_dir=tmp_path))
    with pytest.raises(NoModelsError, match="no model to serve") as info, TestClient(app):
        pass
    assert str(tmp_path) in str(info.value)


def test_a_broken_card_stops_start_up_naming_the_file(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "space")
    card = json.loads((folder / "model.json").read_text())
    card["input"]["bands"] = []
    (folder / "model.json").write_text(json.dumps(card))
    with (
        pytest.raises(CardError, match=r"(?s)space/model\.json.*input\.bands"),
        TestClient(create_app(Settings(models_dir=tmp_path))),
    ):
        pass


def test_a_changed_onnx_file_stops_start_up(tmp_path: Path) -> None:
    folder = model_folder(tmp_path, "space")
    (folder / "model.onnx").write_bytes(b"another graph")
    with (
        pytest.raises(CardError, match="changed after export"),
        TestClient(create_app(Settings(models_dir=tmp_path))),
    ):
        pass


def test_a_card_must_be_named_like_its_folder(tmp_path: Path) -> None:
    model_folder(tmp_path, "space").rename(tmp_path / "other")
    with (
        pytest.raises(CardError, match="its folder's name"),
        TestClient(create_app(Settings(models_dir=tmp_path))),
    ):
        pass


def test_an_unloadable_onnx_file_stops_start_up_naming_it(tmp_path: Path) -> None:
    _model_folder(tmp_path, "space", onnx=b"graph")  # a valid card whose graph is not ONNX
    with (
        pytest.raises(ModelLoadError, match=r"space/model\.onnx: onnxruntime cannot load it"),
        TestClient(create_app(Settings(models_dir=tmp_path, device="cpu"))),
    ):
        pass


def test_a_default_model_that_is_not_loaded_stops_start_up(tmp_path: Path) -> None:
    model_folder(tmp_path, "space")
    with (
        pytest.raises(
            StartupError, match="LENSFINDER_DEFAULT_MODEL='ground' is not a loaded model; loaded: space"
        ),
        TestClient(create_app(Settings(models_dir=tmp_path, default_model="ground", device="cpu"))),
    ):
        pass


@pytest.mark.skipif(cuda_available(), reason="a working GPU is present: device=cuda starts")
def test_device_cuda_without_a_gpu_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    model_folder(tmp_path, "space")
    with (
        pytest.raises(DeviceError, match=r"LENSFINDER_DEVICE=cuda but .*LENSFINDER_DEVICE=auto"),
        TestClient(create_app(Settings(models_dir=tmp_path, device="cuda"))),
    ):
        pass


def test_device_auto_without_a_gpu_falls_back_to_cpu(tmp_path: Path) -> None:
    model_folder(tmp_path, "space")
    with TestClient(create_app(Settings(models_dir=tmp_path, device="auto", max_batch=8))) as client:
        provider = client.app.state.service.runtimes["space"].session.provider  # type: ignore[attr-defined]
    assert provider == ("CUDAExecutionProvider" if cuda_available() else "CPUExecutionProvider")


def test_health_and_model_cards(tmp_path: Path) -> None:
    model_folder(tmp_path, "space")
    model_folder(tmp_path, "ground")
    with TestClient(create_app(Settings(models_dir=tmp_path, device="cpu", max_batch=8))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        cards = client.get("/models").json()
        assert [card["identity"]["name"] for card in cards] == ["ground", "space"]
        one = client.get("/models/space")
        assert one.status_code == 200 and one.json()["input"]["bands"] == ["vis"]
        missing = client.get("/models/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_model"
        assert "ground, space" in missing.json()["error"]["message"]


def test_models_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LENSFINDER_MODELS_DIR", str(tmp_path))
    assert Settings().models_dir == tmp_path
