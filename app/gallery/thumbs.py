"""Thumbnails of scored cutouts for the gallery: PNG bytes made with :mod:`app.render`.

A cutout is read again from its results row (``file`` names its source, :func:`source_from_key`;
``index`` the cutout in it) with the client's reader, so a thumbnail shows the pixels that were scored
(before conforming: the file's own size). Renderings:
- three or more bands: the Lupton et al. (2004) colour composite of :func:`app.render.lupton_rgb`,
  R, G, B = i, r, g, chosen by band name (u, g, r, i without names: the ``ground`` model's order);
- one band (or two): the asinh grayscale of :func:`app.render.gray_png` (of the first band);
- a PNG file: shown as it is (it already is a rendering).
Display order is north up, as :mod:`app.render` flips FITS rows.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.client.load import Loaded, load
from app.client.sources import source_from_key
from app.decode.limits import DEFAULT_LIMITS
from app.render import gray_png, rgb_png

UNNAMED_ORDER = {3: ("g", "r", "i"), 4: ("u", "g", "r", "i")}


@dataclass(frozen=True, slots=True)
class Thumb:
    """A thumbnail's PNG bytes and how it was rendered (``colour``, ``gray``, ``png``), or why not."""

    png: bytes | None
    kind: str


def render(pixels: npt.NDArray[np.float32], bands: tuple[str, ...] | None) -> Thumb:
    """PNG of one cutout (C, H, W) in FITS row order (module docstring)."""
    planes = pixels.shape[0]
    names = bands if bands is not None and len(bands) == planes else UNNAMED_ORDER.get(planes)
    if planes >= 3 and names is not None and {"g", "r", "i"} <= set(names):
        g, r, i = (pixels[names.index(b)] for b in ("g", "r", "i"))
        return Thumb(rgb_png(g, r, i), "colour")
    return Thumb(gray_png(pixels[0]), "gray")


class ThumbMaker:
    """Renders rows' cutouts, keeping the last few sources read (a stack file is read once)."""

    def __init__(self, keep: int = 8) -> None:
        self._cache: OrderedDict[str, Loaded | None] = OrderedDict()
        self._keep = keep

    def _loaded(self, key: str) -> Loaded | None:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            loaded: Loaded | None = load(source_from_key(key), DEFAULT_LIMITS)
        except (OSError, ValueError):
            loaded = None
        self._cache[key] = loaded
        if len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return loaded

    def thumb(self, key: str, index: int) -> Thumb:
        """The thumbnail of cutout ``index`` of source ``key``; ``png`` None with a reason when the
        file is gone or holds no such cutout."""
        if key.startswith("array["):
            return Thumb(None, "an array in memory: no file to show")
        loaded = self._loaded(key)
        if loaded is None:
            return Thumb(None, "file not found")
        cutout = next((c for c in loaded.cutouts if c.index == index), None)
        if cutout is None or cutout.pixels is None:
            return Thumb(None, "cutout not readable")
        if loaded.raw is not None and cutout.format != "fits":
            return Thumb(loaded.raw, "png")
        return render(cutout.pixels, cutout.bands)
