"""Which onnxruntime execution providers a session asks for, and a check of what it really got.

``device`` (``LENSFINDER_DEVICE``): ``cpu`` asks for the CPU provider only; ``cuda`` asks for CUDA and
refuses to start without it; ``auto`` asks for CUDA where onnxruntime offers it and falls back to CPU
with a logged warning. onnxruntime silently drops a provider it cannot load (no GPU, missing CUDA or
cuDNN libraries), so what a session runs on is read back with ``session.get_providers()``.

CUDA options, chosen to avoid the known traps of serving small CNNs:
- ``cudnn_conv_algo_search=HEURISTIC``: the default EXHAUSTIVE benchmarks every conv algorithm on the
  first run of each shape (seconds per shape, and large scratch allocations);
- ``gpu_mem_limit``: a bound on the session's arena, so one process cannot take the whole card;
- ``arena_extend_strategy=kSameAsRequested``: grow the arena by what is asked, not by doubling.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

import onnxruntime as ort

from app.config import MIB, Device

log = logging.getLogger("lensfinder")

CPU: Final = "CPUExecutionProvider"
CUDA: Final = "CUDAExecutionProvider"

ProviderSpec = str | tuple[str, dict[str, str]]


class DeviceError(RuntimeError):
    """``LENSFINDER_DEVICE=cuda`` but onnxruntime cannot run the CUDA provider: start-up stops."""


def cuda_options(gpu_mem_limit_mib: int, device_id: int = 0) -> dict[str, str]:
    """The CUDA provider options (module docstring); onnxruntime takes them as strings."""
    return {
        "device_id": str(device_id),
        "cudnn_conv_algo_search": "HEURISTIC",
        "gpu_mem_limit": str(gpu_mem_limit_mib * MIB),
        "arena_extend_strategy": "kSameAsRequested",
    }


class ProviderPlan:
    """Chooses providers for each session of one service and remembers a failed CUDA start.

    With ``auto``, once CUDA failed for one model the others go straight to CPU (one warning, not one
    per model and no repeated library-loading errors).
    """

    def __init__(self, device: Device, gpu_mem_limit_mib: int) -> None:
        self.device = device
        self.gpu_mem_limit_mib = gpu_mem_limit_mib
        self._cuda_failed = False

    def providers(self) -> list[ProviderSpec]:
        """The provider list to create a session with (CPU always last, as the fallback)."""
        if self.device == "cpu" or self._cuda_failed:
            return [CPU]
        if CUDA not in ort.get_available_providers():
            return self._unavailable("this onnxruntime build has no CUDA provider")
        return [(CUDA, cuda_options(self.gpu_mem_limit_mib)), CPU]

    def check(self, active: Sequence[str], what: str) -> str:
        """The provider a session really runs on (``session.get_providers()[0]``), checked against
        the device asked for; :class:`DeviceError` for ``cuda`` without CUDA."""
        provider = active[0] if active else "none"
        if self.device != "cpu" and not self._cuda_failed and provider != CUDA:
            self._unavailable(f"onnxruntime could not start the CUDA provider for {what}")
        return provider

    def _unavailable(self, reason: str) -> list[ProviderSpec]:
        hint = "(no GPU, or the CUDA 13 / cuDNN 9 libraries onnxruntime-gpu needs are not found)"
        if self.device == "cuda":
            raise DeviceError(
                f"LENSFINDER_DEVICE=cuda but {reason} {hint}; fix the GPU set-up or set "
                "LENSFINDER_DEVICE=auto (CPU fallback) or cpu"
            )
        if not self._cuda_failed:
            log.warning("%s %s: running on the CPU provider (LENSFINDER_DEVICE=auto)", reason, hint)
        self._cuda_failed = True
        return [CPU]


def describe(options: dict[str, Any]) -> str:
    """``key=value, ...`` for logs."""
    return ", ".join(f"{key}={value}" for key, value in sorted(options.items()))
