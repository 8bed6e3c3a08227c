"""Start-up of the ASGI application through its real lifespan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import NoModelsError, create_app, find_model_cards


def test_start_up_without_models_fails_with_a_clear_message(tmp_path: Path) -> None:
    app = create_app(Settings(models_dir=tmp_path))
    with pytest.raises(NoModelsError, match="no model to serve") as info, TestClient(app):
        pass
    assert str(tmp_path) in str(info.value)


def test_model_cards_are_found_by_folder(tmp_path: Path) -> None:
    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "model.json").write_text(json.dumps({"name": "space"}))
    (tmp_path / "empty").mkdir()
    assert find_model_cards(Settings(models_dir=tmp_path)) == ["space"]
    assert find_model_cards(Settings(models_dir=tmp_path / "missing")) == []


def test_models_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LENSFINDER_MODELS_DIR", str(tmp_path))
    assert Settings().models_dir == tmp_path
