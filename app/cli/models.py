"""``lensfinder models``: the model cards of a running service, or of a models folder."""

from __future__ import annotations

import os
from pathlib import Path

from app.card import ModelCard
from app.client.http import Client
from app.config import DEFAULT_MODELS_DIR
from app.registry import load_models


def list_models(*, url: str | None = None, models_dir: Path | None = None) -> list[ModelCard]:
    """The cards at ``url`` (``GET /models``), else in ``models_dir`` (default: the checkout's models/,
    or ``LENSFINDER_MODELS_DIR``), by name."""
    if url is not None:
        with Client(url) as client:
            return sorted(client.models(), key=lambda card: card.name)
    folder = models_dir or Path(os.environ.get("LENSFINDER_MODELS_DIR") or DEFAULT_MODELS_DIR)
    models = load_models(folder)
    if not models:
        raise FileNotFoundError(f"{folder} holds no <name>/model.json")
    return [models[name].card for name in sorted(models)]


def card_lines(cards: list[ModelCard]) -> list[str]:
    """A table: name, version, bands, cutout size, pixel scale, accepted inputs, threshold."""
    head = (
        f"{'name':<10} {'version':<8} {'bands':<12} {'cutout':<10} {'arcsec/px':<9} {'accepts':<22} threshold"
    )
    lines = [head]
    for card in cards:
        spec = card.input
        size = f"{len(spec.bands)}x{spec.height}x{spec.width}"
        scale = "-" if spec.pixel_scale_arcsec is None else f"{spec.pixel_scale_arcsec:g}"
        lines.append(
            f"{card.name:<10} {card.identity.version:<8} {','.join(spec.bands):<12} {size:<10} {scale:<9} "
            f"{','.join(spec.accepts):<22} {card.output.threshold:.4g}"
        )
    return lines
