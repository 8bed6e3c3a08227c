"""Explanations in this process, without a service: ``lensfinder explain --models-dir`` and the gallery's
heat maps.

The same steps as ``POST /explain`` on the same code: decode (``app.decode``), choose the model
(``app.scoring.choose``) unless one is named, conform and add the out-of-distribution warnings
(``app.conform``, ``app.ood``), build the method's copies (``app.explain``) and score them with the
model's onnxruntime session (``app.inference.session``) in batches of ``max_batch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.card import ModelCard
from app.config import DEFAULT_MODELS_DIR, Device
from app.conform import conform
from app.decode import DecodeError, decode_path
from app.decode.types import CutoutMeta, DecodedFile, InputFormat
from app.explain.lime import LimeParams, lime_plan
from app.explain.occlusion import OcclusionParams, occlusion_plan
from app.explain.overlay import overlay, render_cutout
from app.explain.plan import Plan
from app.inference.providers import ProviderPlan
from app.inference.session import ModelSession
from app.ood import annotate
from app.registry import ShippedModel, load_models
from app.render import encode_png
from app.scoring.choose import choose, no_model_message


@dataclass(frozen=True, slots=True)
class LocalExplained:
    """One cutout of a file: its index, probability, saliency map (H, W, FITS row order, log-odds),
    conformed pixels (C, H, W) and warning codes; ``error`` instead when it could not be scored."""

    index: int
    probability: float | None
    saliency: npt.NDArray[np.float32] | None
    pixels: npt.NDArray[np.float32] | None
    warnings: tuple[str, ...]
    error: str | None = None


class LocalExplainer:
    """The models of ``models_dir`` (default: the checkout's ``models/``) with sessions opened on first
    use; :meth:`explain_file` and :meth:`heat_png` explain cutouts with them."""

    def __init__(
        self, models_dir: Path | None = None, *, device: Device = "cpu", threads: int = 0, max_batch: int = 64
    ) -> None:
        self.models: dict[str, ShippedModel] = load_models(models_dir or DEFAULT_MODELS_DIR)
        if not self.models:
            raise FileNotFoundError(f"{models_dir or DEFAULT_MODELS_DIR} holds no <name>/model.json")
        self._plan = ProviderPlan(device, 4096)
        self._threads = threads
        self._max_batch = max_batch
        self._sessions: dict[str, ModelSession] = {}

    def session(self, name: str) -> ModelSession:
        if name not in self._sessions:
            model = self.models[name]
            self._sessions[name] = ModelSession(
                model.directory, model.card, self._plan, max_batch=self._max_batch, threads=self._threads
            )
        return self._sessions[name]

    def card(self, name: str) -> ModelCard:
        return self.models[name].card

    def scores(self, name: str, copies: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities of ``copies`` (K, C, H, W) in batches of the session's max batch."""
        session = self.session(name)
        step = session.max_batch
        return np.concatenate([session.run(copies[k : k + step]) for k in range(0, len(copies), step)])

    def explain_pixels(
        self, name: str, cutout: npt.NDArray[np.float32], method: str = "occlusion"
    ) -> tuple[float, npt.NDArray[np.float32]]:
        """(probability, saliency) of one conformed cutout (C, H, W) with the default parameters."""
        plan: Plan = occlusion_plan(cutout, OcclusionParams()) if method == "occlusion" else lime_plan(
            cutout, LimeParams()
        )  # fmt: skip
        return plan.explain(self.scores(name, plan.copies))

    def choose(self, decoded: DecodedFile, model: str | None) -> str:
        """The model named, else the one the file's bands and format choose; ValueError if none."""
        if model is not None:
            if model not in self.models:
                raise ValueError(f"no model {model!r}; loaded: {', '.join(sorted(self.models))}")
            return model
        cards = {name: m.card for name, m in self.models.items()}
        chosen = choose(decoded, cards)
        if chosen is None:
            raise ValueError(no_model_message(decoded, cards))
        return chosen

    def explain_file(
        self, path: Path, *, model: str | None = None, method: str = "occlusion"
    ) -> tuple[str, DecodedFile, list[LocalExplained]]:
        """(the model, the conformed file, each cutout explained). Raises ``app.decode.DecodeError``
        for a file that cannot be read or conformed, ValueError when no model takes it."""
        channels = len(self.card(model).input.bands) if model in self.models else None
        decoded = decode_path(path, channels=channels)
        name = self.choose(decoded, model)
        card = self.card(name)
        conformed = annotate(conform(decoded, card.input_spec()), card)
        items = []
        for meta, pixels in zip(conformed.cutouts, conformed.pixels, strict=True):
            codes = tuple(w.code for w in meta.warnings)
            if meta.error is not None:
                items.append(LocalExplained(meta.index, None, None, None, codes, meta.error.code))
                continue
            probability, saliency = self.explain_pixels(name, pixels, method)
            items.append(LocalExplained(meta.index, probability, saliency, pixels, codes))
        return name, conformed, items

    def heat_png(
        self,
        name: str,
        pixels: npt.NDArray[np.float32],
        bands: tuple[str, ...] | None,
        fmt: InputFormat,
        *,
        scale: int = 1,
    ) -> bytes:
        """The occlusion overlay of one cutout (C, H, W) as it was read (bands in the file's order,
        ``bands`` None when unnamed; conformed to ``name``'s input here), a PNG of the model's cutout
        size times ``scale``, north up. Raises ``app.decode.DecodeError`` when the model cannot take it."""
        card = self.card(name)
        one = DecodedFile(
            "cutout",
            fmt,
            np.asarray(pixels, dtype=np.float32)[None],
            (CutoutMeta("cutout", 0, fmt, bands=bands),),
        )
        conformed = conform(one, card.input_spec())
        if conformed.cutouts[0].error is not None:
            raise DecodeError(conformed.cutouts[0].error.code, conformed.cutouts[0].error.message)
        cutout = conformed.pixels[0]
        _, saliency = self.explain_pixels(name, cutout)
        picture = overlay(render_cutout(cutout, fmt, card.input.bands), saliency)
        return encode_png(np.ascontiguousarray(np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1)))


class GalleryHeat:
    """The gallery's heat-map column: ``heat(file, index, model)`` is the occlusion overlay PNG of the
    cutout a results row names (read again with the client's reader), or None when it cannot be made
    (file gone, model not in ``models_dir``, cutout unreadable)."""

    def __init__(self, explainer: LocalExplainer) -> None:
        self.explainer = explainer

    def __call__(self, key: str, index: int, model: str) -> bytes | None:
        from app.client.load import load
        from app.client.sources import source_from_key
        from app.decode.limits import DEFAULT_LIMITS

        if model not in self.explainer.models or key.startswith("array["):
            return None
        try:
            loaded = load(source_from_key(key), DEFAULT_LIMITS)
            cutout = next((c for c in loaded.cutouts if c.index == index), None)
            if cutout is None or cutout.pixels is None:
                return None
            return self.explainer.heat_png(model, cutout.pixels, cutout.bands, cutout.format)
        except (OSError, ValueError, DecodeError):
            return None
