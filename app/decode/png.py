"""PNG bytes -> one cutout, through Pillow, with the declared size checked before inflation.

Output: float32 (1, C, H, W) in the PNG's own scale (0..255 for 8-bit, 0..65535 for 16-bit samples),
rows flipped so that row 0 is the bottom row as in FITS (a FITS array saved with ``np.flipud`` decodes
back to the same orientation). No masking: PNG has no mask convention.

Modes: 1, L, I;16, I;16B, I -> gray (format ``png-gray``, C = 1); RGB -> ``png-rgb`` (C = 3, planes
R, G, B). Alpha is dropped (LA -> gray, RGBA -> RGB) with an ``alpha_dropped`` warning when any pixel
is not fully opaque. Palette images become gray when every palette entry is gray, else RGB. Pillow
reads 16-bit RGB(A) PNGs as 8 bits per sample; that loss gets a ``precision_reduced`` warning. An
animated PNG gives its first frame and a ``first_frame_only`` warning.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from app.decode.errors import DecodeError
from app.decode.limits import DecodeLimits
from app.decode.types import CutoutMeta, DecodedFile, DecodeWarning, InputFormat

_GRAY = {"1", "L", "I;16", "I;16B", "I;16L", "I"}


def _gray_palette(image: Image.Image) -> bool:
    palette = image.getpalette() or []
    return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def _drop_alpha(image: Image.Image, warns: list[DecodeWarning]) -> Image.Image:
    alpha = np.asarray(image.getchannel("A"))  # Pillow keeps alpha as 8 bits in every mode
    if alpha.size and int(alpha.min()) < 255:
        warns.append(
            DecodeWarning("alpha_dropped", "the PNG's alpha channel is not fully opaque; it was ignored")
        )
    return image.convert("L" if image.mode in ("LA", "La", "PA") else "RGB")


def _to_array(image: Image.Image, warns: list[DecodeWarning]) -> npt.NDArray[Any]:
    mode = image.mode
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in image.info
        gray = _gray_palette(image)
        image = image.convert(("LA" if gray else "RGBA") if has_alpha else ("L" if gray else "RGB"))
        mode = image.mode
    if mode in ("LA", "La", "RGBA", "RGBa"):
        image = _drop_alpha(image, warns)
        mode = image.mode
    if mode == "1":
        image = image.convert("L")
    elif mode not in _GRAY and mode != "RGB":
        raise DecodeError("unsupported_data", f"PNG mode {mode!r} cannot be read as intensities")
    return np.asarray(image)


def decode_png(data: bytes, filename: str, limits: DecodeLimits) -> DecodedFile:
    """Decode PNG bytes to one cutout; every failure is a DecodeError."""
    try:
        return _decode(data, filename, limits)
    except DecodeError:
        raise
    except (MemoryError, Image.DecompressionBombError):
        raise DecodeError(
            "too_large",
            f"{filename} declares more pixels than can be decoded; the limit is {limits.max_pixels}",
        ) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ... for broken streams
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise DecodeError("bad_png", f"{filename} is not a readable PNG: {text}") from None


def _decode(data: bytes, filename: str, limits: DecodeLimits) -> DecodedFile:
    warns: list[DecodeWarning] = []
    with warnings.catch_warnings():
        # The strict check below replaces Pillow's bomb warning, which only warns.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    width, height = image.size
    if width * height > limits.max_pixels:
        raise DecodeError(
            "too_large",
            f"{filename} declares {width}x{height} = {width * height} pixels; the limit is "
            f"{limits.max_pixels} pixels per image",
        )
    if width == 0 or height == 0:
        raise DecodeError("bad_shape", f"{filename} declares an empty {width}x{height} image")
    if getattr(image, "n_frames", 1) > 1:
        warns.append(DecodeWarning("first_frame_only", "the PNG is animated; only its first frame is used"))
    if any(str(tile.args).endswith(";16B") for tile in image.tile) and image.mode in ("RGB", "RGBA"):
        warns.append(
            DecodeWarning("precision_reduced", "16-bit colour PNG read with 8 bits per sample (Pillow limit)")
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image.load()
    array = _to_array(image, warns)
    values = np.flipud(array).astype(np.float32)  # flipud: row 0 becomes the bottom row, as in FITS
    pixels = values[None, None] if values.ndim == 2 else np.moveaxis(values, -1, 0)[None]
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    fmt: InputFormat = "png-gray" if pixels.shape[1] == 1 else "png-rgb"
    meta = CutoutMeta(file=filename, index=0, format=fmt, warnings=tuple(warns))
    return DecodedFile(file=filename, format=fmt, pixels=pixels, cutouts=(meta,))
