"""The service's settings: one pydantic-settings class, read from ``LENSFINDER_*`` environment variables.

A bad value stops start-up with pydantic's message, which names the field; :func:`load_settings`
re-words it to name the environment variable (``LENSFINDER_MAX_BATCH: Input should be ...``).

Units: bytes for ``*_bytes``, milliseconds for ``max_wait_ms``, seconds for ``request_deadline_s``,
cutouts for ``queue_limit`` and ``max_cutouts``, MiB for ``gpu_mem_limit_mib``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.decode.limits import DecodeLimits

# The checkout's models/ folder: the shipped models live there (DESIGN section 7).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
ENV_PREFIX = "LENSFINDER_"
MIB = 1 << 20

Positive = Annotated[int, Field(ge=1)]
Device = Literal["auto", "cuda", "cpu"]


class SettingsError(ValueError):
    """A bad ``LENSFINDER_*`` value; the message names each variable and what is wrong with it."""


class Settings(BaseSettings):
    """Service configuration; every field is settable as ``LENSFINDER_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    # --- models and device
    models_dir: Path = DEFAULT_MODELS_DIR
    default_model: str | None = None  # None (or empty): chosen from each request's input
    device: Device = "auto"  # auto: CUDA where it works, else CPU with a warning
    # parallel inference streams per model (onnxruntime sessions, each with its own thread) and intra-op
    # threads per session; 0 = automatic (app.inference.pool.plan_streams: on a CPU the cores are shared
    # by up to 4 streams, 2 cores -> 2 streams of 1 thread; on a GPU one stream)
    streams: Annotated[int, Field(ge=0, le=64)] = 0
    threads: Annotated[int, Field(ge=0)] = 0
    gpu_mem_limit_mib: Positive = 4096  # bound on each CUDA session's memory arena
    # threads that decode, conform and check uploads (and build explanations), off the event loop;
    # 0 = automatic (app.inference.pool.plan_decode_threads: 1 where inference runs on the CPU, else up
    # to 4)
    decode_threads: Annotated[int, Field(ge=0, le=64)] = 0

    # freed memory glibc keeps for reuse instead of returning it to the kernel (app/memory.py); 0 leaves
    # glibc's defaults
    malloc_keep_mib: Annotated[int, Field(ge=0)] = 256

    # --- batching
    batching: bool = True  # False: one cutout per inference (max_batch 1, no wait), for benchmarks
    max_batch: Annotated[int, Field(ge=1, le=4096)] = 64
    max_wait_ms: Annotated[float, Field(ge=0.0, le=10_000.0)] = 5.0
    queue_limit: Positive = 4096  # cutouts waiting per model; past it a request gets 503 queue_full

    # --- requests
    max_request_bytes: Positive = 64 * MIB  # whole request body; past it 413 request_too_large
    max_files: Positive = 256  # parts per request; past it 413 too_many_files
    max_cutouts: Positive = 4096  # cutouts per request (and per file); past it 413 too_many_cutouts
    request_deadline_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 30.0

    # --- decoding (app.decode.DecodeLimits), per file
    max_file_bytes: Positive = 128 * MIB  # one file after gzip inflation
    max_image_pixels: Positive = 64 * MIB  # pixels one image (HDU or PNG) may declare
    max_file_pixels: Positive = 64 * MIB  # pixels of all image HDUs of one file
    max_hdus: Positive = 64

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("default_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # A compose file passes LENSFINDER_DEFAULT_MODEL= (empty) for "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.max_cutouts > self.queue_limit:
            raise ValueError(
                f"max_cutouts ({self.max_cutouts}) must not exceed queue_limit ({self.queue_limit}): "
                "a request that large could never be queued"
            )
        return self

    @property
    def effective_max_batch(self) -> int:
        """The largest batch one inference runs: 1 with batching off."""
        return self.max_batch if self.batching else 1

    @property
    def effective_max_wait_s(self) -> float:
        """Seconds the batcher waits to fill a batch: 0 with batching off."""
        return self.max_wait_ms / 1000.0 if self.batching else 0.0

    def decode_limits(self) -> DecodeLimits:
        """The per-file limits decoding checks before it allocates (cutouts per file: max_cutouts)."""
        return DecodeLimits(
            max_file_bytes=self.max_file_bytes,
            max_pixels=self.max_image_pixels,
            max_total_pixels=self.max_file_pixels,
            max_cutouts=self.max_cutouts,
            max_hdus=self.max_hdus,
        )


def load_settings() -> Settings:
    """Settings from the environment; :class:`SettingsError` naming each bad ``LENSFINDER_*`` variable."""
    try:
        return Settings()
    except ValidationError as error:
        lines = []
        for item in error.errors(include_url=False):
            fields = [str(part) for part in item["loc"]]
            where = ", ".join(ENV_PREFIX + f.upper() for f in fields) if fields else "LENSFINDER_* settings"
            lines.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise SettingsError("bad service settings:\n  " + "\n  ".join(lines)) from None
