"""Provider choice: CPU on request, CUDA with the safe options, fallback or refusal without a GPU."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from app.card import ModelCard
from app.inference.providers import CPU, CUDA, DeviceError, ProviderPlan, cuda_options
from app.inference.session import ModelSession
from tests.app.service_helpers import tiny_model


def cuda_works() -> bool:
    if CUDA not in ort.get_available_providers():
        return False
    try:
        return ModelSession(*_tiny(), ProviderPlan("cuda", 256), max_batch=1).provider == CUDA
    except DeviceError:
        return False


def _tiny() -> tuple[Path, ModelCard]:
    import tempfile

    folder = tiny_model(Path(tempfile.mkdtemp()), "tiny")
    return folder, ModelCard.load(folder / "model.json")


def test_cuda_options_avoid_the_known_traps() -> None:
    options = cuda_options(512)
    assert options["cudnn_conv_algo_search"] == "HEURISTIC"
    assert options["arena_extend_strategy"] == "kSameAsRequested"
    assert options["gpu_mem_limit"] == str(512 << 20)


def test_cpu_asks_for_the_cpu_provider_only() -> None:
    assert ProviderPlan("cpu", 512).providers() == [CPU]


def test_auto_and_cuda_ask_for_cuda_first_where_onnxruntime_offers_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    for device in ("auto", "cuda"):
        providers = ProviderPlan(device, 512).providers()  # type: ignore[arg-type]
        assert providers[0] == (CUDA, cuda_options(512)) and providers[-1] == CPU


def test_auto_without_cuda_falls_back_to_cpu_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    plan = ProviderPlan("auto", 512)
    with caplog.at_level(logging.WARNING, logger="lensfinder"):
        assert plan.providers() == [CPU]
        assert plan.providers() == [CPU]
    warnings = [r for r in caplog.records if "CPU provider" in r.getMessage()]
    assert len(warnings) == 1


def test_cuda_without_a_cuda_provider_refuses_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CPU])
    with pytest.raises(DeviceError, match=r"LENSFINDER_DEVICE=cuda but .* no CUDA provider"):
        ProviderPlan("cuda", 512).providers()


def test_a_session_that_silently_fell_back_is_caught(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime drops a CUDA provider it cannot start; the active provider is read back."""
    if cuda_works():
        pytest.skip("a working GPU: the fallback cannot happen here")
    folder = tiny_model(tmp_path, "tiny")
    card = ModelCard.load(folder / "model.json")
    with pytest.raises(DeviceError, match="LENSFINDER_DEVICE=cuda"):
        ModelSession(folder, card, ProviderPlan("cuda", 256), max_batch=1)
    with caplog.at_level(logging.WARNING, logger="lensfinder"):
        auto = ModelSession(folder, card, ProviderPlan("auto", 256), max_batch=1)
    assert auto.provider == CPU
    assert any("CPU provider" in r.getMessage() for r in caplog.records)
