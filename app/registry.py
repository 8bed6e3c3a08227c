"""The shipped models: every ``<models_dir>/<name>/model.json`` card, validated at start-up.

A broken card, a card whose ``model.onnx`` is missing or changed (SHA-256), or a card whose name is not
its folder's stops start-up with a :class:`app.card.CardError` naming the file (DESIGN section 4).
The onnxruntime sessions and the batcher join this registry with the service issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.card import CARD_FILE, CardError, ModelCard


@dataclass(frozen=True, slots=True)
class ShippedModel:
    """One model folder: its card and where it lies."""

    directory: Path
    card: ModelCard

    @property
    def name(self) -> str:
        return self.card.name


def load_models(models_dir: Path) -> dict[str, ShippedModel]:
    """Load and check every card under ``models_dir``, by name; {} when there is none."""
    models: dict[str, ShippedModel] = {}
    if not models_dir.is_dir():
        return models
    for card_path in sorted(models_dir.glob(f"*/{CARD_FILE}")):
        card = ModelCard.load(card_path)
        if card.name != card_path.parent.name:
            folder = card_path.parent.name
            raise CardError(card_path, f"identity.name: {card.name!r} must be its folder's name, {folder!r}")
        card.verify_files(card_path.parent)
        models[card.name] = ShippedModel(card_path.parent, card)
    return models
