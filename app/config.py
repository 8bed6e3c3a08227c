"""The service's settings: one pydantic-settings class, read from ``LENSFINDER_*`` environment variables.

A bad value stops start-up with pydantic's message, which names the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout's models/ folder: the shipped models live there (DESIGN section 7).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class Settings(BaseSettings):
    """Service configuration; every field is settable as ``LENSFINDER_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="LENSFINDER_", extra="ignore")

    models_dir: Path = DEFAULT_MODELS_DIR
