"""Settings: LENSFINDER_* variables, their checks, and start-up messages naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import MIB, Settings, SettingsError, load_settings


def test_defaults() -> None:
    settings = Settings()
    assert settings.device == "auto" and settings.default_model is None
    assert (settings.max_batch, settings.max_wait_ms, settings.queue_limit) == (64, 5.0, 4096)
    assert (settings.max_request_bytes, settings.max_files, settings.max_cutouts) == (64 * MIB, 256, 4096)
    assert settings.request_deadline_s == 30.0 and settings.threads == 0
    limits = settings.decode_limits()
    assert limits.max_cutouts == 4096 and limits.max_file_bytes == 128 * MIB


def test_every_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "MODELS_DIR": str(tmp_path),
        "DEFAULT_MODEL": "ground",
        "DEVICE": "cuda",
        "THREADS": "2",
        "MAX_BATCH": "32",
        "MAX_WAIT_MS": "2.5",
        "QUEUE_LIMIT": "100",
        "MAX_REQUEST_BYTES": "1000",
        "MAX_FILES": "3",
        "MAX_CUTOUTS": "50",
        "REQUEST_DEADLINE_S": "4",
        "MAX_FILE_BYTES": "999",
        "MAX_IMAGE_PIXELS": "77",
        "MAX_FILE_PIXELS": "88",
        "MAX_HDUS": "5",
        "BATCHING": "false",
    }
    for key, value in values.items():
        monkeypatch.setenv(f"LENSFINDER_{key}", value)
    s = load_settings()
    assert (s.models_dir, s.default_model, s.device, s.threads) == (tmp_path, "ground", "cuda", 2)
    assert (s.max_batch, s.max_wait_ms, s.queue_limit, s.max_request_bytes) == (32, 2.5, 100, 1000)
    assert (s.max_files, s.max_cutouts, s.request_deadline_s) == (3, 50, 4.0)
    assert s.decode_limits().max_pixels == 77 and s.decode_limits().max_hdus == 5
    assert (s.effective_max_batch, s.effective_max_wait_s) == (1, 0.0)  # batching off


def test_an_empty_default_model_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSFINDER_DEFAULT_MODEL", "")
    assert load_settings().default_model is None


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("MAX_BATCH", "0", "greater than or equal to 1"),
        ("MAX_BATCH", "many", "valid integer"),
        ("DEVICE", "tpu", "'auto', 'cuda' or 'cpu'"),
        ("MAX_WAIT_MS", "-1", "greater than or equal to 0"),
        ("REQUEST_DEADLINE_S", "0", "greater than 0"),
        ("THREADS", "-2", "greater than or equal to 0"),
        ("QUEUE_LIMIT", "10", "must not exceed queue_limit"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, words: str
) -> None:
    monkeypatch.setenv(f"LENSFINDER_{key}", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert words in message
    if key != "QUEUE_LIMIT":  # a cross-field rule names the settings in its text
        assert f"LENSFINDER_{key}" in message
