"""Small factories of test files made in code (no checked-in blobs): FITS, gzip, PNG and hostile inputs.

Every factory returns the file's bytes. Arrays are given in numpy order (rows first); FITS writes them
as they are, so ``decode_bytes(image_fits(a)).pixels[0, 0]`` equals ``a`` for a 2-D ``a``.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from PIL import Image

Cards = Mapping[str, Any]


def noise(shape: Sequence[int], *, seed: int = 0, scale: float = 1e-12, dtype: Any = np.float32) -> Any:
    """Gaussian noise like a BLF cutout's (sigma about 1e-12 in BLF flux units)."""
    return (np.random.default_rng(seed).normal(0.0, scale, size=tuple(shape))).astype(dtype)


def _with_cards(hdu: Any, cards: Cards | None) -> Any:
    for key, value in (cards or {}).items():
        hdu.header[key] = value
    return hdu


def hdul_bytes(hdus: Sequence[Any]) -> bytes:
    """Serialise HDUs (the first must be a PrimaryHDU) to FITS bytes."""
    buffer = io.BytesIO()
    fits.HDUList(list(hdus)).writeto(buffer, output_verify="silentfix")
    return buffer.getvalue()


def image_fits(array: npt.ArrayLike | None, cards: Cards | None = None) -> bytes:
    """A primary HDU holding ``array`` (any dtype astropy writes: BITPIX follows it) and header cards.

    Cards named BSCALE/BZERO/BLANK are written as given, not applied: ``array`` is the stored data.
    """
    hdu = fits.PrimaryHDU(None if array is None else np.asarray(array))
    return hdul_bytes([_with_cards(hdu, cards)])


def extension_fits(
    arrays: Sequence[npt.ArrayLike],
    cards: Sequence[Cards | None] | None = None,
    *,
    primary: npt.ArrayLike | None = None,
    primary_cards: Cards | None = None,
) -> bytes:
    """A primary HDU (empty unless ``primary``) followed by one IMAGE extension per array."""
    cards = cards or [None] * len(arrays)
    hdus = [_with_cards(fits.PrimaryHDU(None if primary is None else np.asarray(primary)), primary_cards)]
    hdus += [_with_cards(fits.ImageHDU(np.asarray(a)), c) for a, c in zip(arrays, cards, strict=True)]
    return hdul_bytes(hdus)


def cube_fits(bands: Sequence[str] = ("u", "g", "r", "i"), size: int = 11, *, seed: int = 0) -> bytes:
    """One cube (C, size, size) naming its bands in BANDS, plane k filled with noise + k."""
    cube = noise((len(bands), size, size), seed=seed) + np.arange(len(bands), dtype=np.float32)[:, None, None]
    return image_fits(cube, {"BANDS": ",".join(bands)})


def mef_fits(bands: Sequence[str] = ("u", "g", "r", "i"), size: int = 11, *, key: str = "FILTER") -> bytes:
    """One 2-D image extension per band, band named in ``key`` (FILTER or BAND); plane k is k + noise."""
    planes = [noise((size, size), seed=k) + k for k in range(len(bands))]
    return extension_fits(planes, [{key: b.upper()} for b in bands])


def tile_compressed_fits(
    array: npt.ArrayLike, cards: Cards | None = None, *, compression: str = "RICE_1"
) -> bytes:
    """A primary HDU and one tile-compressed image extension (lossless for integers)."""
    data = np.asarray(array)
    kwargs: dict[str, Any] = {"compression_type": compression}
    if data.dtype.kind == "f":
        kwargs["quantize_level"] = 0.0  # lossless floats: values (and the mask value 100) survive
    hdu = _with_cards(fits.CompImageHDU(data, **kwargs), cards)
    return hdul_bytes([fits.PrimaryHDU(), hdu])


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def huge_naxis_header(naxis1: int = 10**9, naxis2: int = 10) -> bytes:
    """A primary header declaring NAXIS1 = 10^9 followed by one block of data (the rest is missing)."""
    header = fits.Header(
        [("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", naxis1), ("NAXIS2", naxis2)]
    )
    return header.tostring().encode("ascii") + b"\0" * 2880


@lru_cache(maxsize=4)
def gzip_bomb(inflated_mib: int = 300, members: int | None = None) -> bytes:
    """A gzip file of a FITS header plus ``inflated_mib`` MiB of zeros, about 1000x smaller than that.

    Made of identical 1 MiB gzip members (legal: gzip readers concatenate members), so it costs one
    MiB of compression to build however large it inflates.
    """
    header = fits.Header(
        [("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 1), ("NAXIS1", inflated_mib << 20)]
    ).tostring()
    member = gzip.compress(b"\0" * (1 << 20), compresslevel=9, mtime=0)
    return gzip.compress(header.encode("ascii"), mtime=0) + member * (members or inflated_mib)


@lru_cache(maxsize=2)
def gzip_bomb_single_member(inflated_mib: int = 64) -> bytes:
    """One gzip member inflating to ``inflated_mib`` MiB of zeros after a FITS header."""
    header = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0)]).tostring().encode("ascii")
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(header)]
    block = b"\0" * (1 << 20)
    parts += [compressor.compress(block) for _ in range(inflated_mib)]
    parts.append(compressor.flush())
    return b"".join(parts)


@lru_cache(maxsize=2)
def tile_compressed_bomb(side: int = 20_000) -> bytes:
    """A real tile-compressed bomb: ``side`` x ``side`` uint8 zeros, GZIP_1 tiles of one row, ~1 MB.

    Built as the binary table directly (astropy would need the whole image in memory to compress it).
    """
    tile = np.frombuffer(gzip.compress(b"\0" * side, compresslevel=9, mtime=0), dtype=np.uint8)
    rows = np.empty(side, dtype=object)
    for i in range(side):
        rows[i] = tile
    column = fits.Column(name="COMPRESSED_DATA", format=f"1PB({tile.size})", array=rows)
    table = fits.BinTableHDU.from_columns([column])
    for key, value in [
        ("ZIMAGE", True),
        ("ZBITPIX", 8),
        ("ZNAXIS", 2),
        ("ZNAXIS1", side),
        ("ZNAXIS2", side),
        ("ZTILE1", side),
        ("ZTILE2", 1),
        ("ZCMPTYPE", "GZIP_1"),
    ]:
        table.header[key] = value
    return hdul_bytes([fits.PrimaryHDU(), table])


def gzip_tile_bomb(side: int = 64, inflate_mib: int = 64) -> bytes:
    """A small tile-compressed image (declared ``side`` x ``side``) whose first GZIP tile inflates to
    ``inflate_mib`` MiB: passes the declared-size check, must be caught by the tile scan."""
    good = tile_compressed_fits(np.zeros((side, side), dtype=np.uint8), compression="GZIP_1")
    with fits.open(io.BytesIO(good), disable_image_compression=True) as hdul:
        table = hdul[1]
        big = np.frombuffer(gzip_bomb_single_member(inflate_mib), dtype=np.uint8)
        rows = np.empty(len(table.data), dtype=object)
        for i in range(len(rows)):
            rows[i] = big if i == 0 else np.asarray(table.data["COMPRESSED_DATA"][i], dtype=np.uint8)
        column = fits.Column(name="COMPRESSED_DATA", format=f"1PB({big.size})", array=rows)
        bomb = fits.BinTableHDU.from_columns([column])
        for card in table.header.cards:
            if card.keyword.startswith("Z") or card.keyword == "EXTNAME":
                bomb.header[card.keyword] = card.value
        return hdul_bytes([fits.PrimaryHDU(), bomb])


# --- PNG -------------------------------------------------------------------------------------------


def png_bytes(array: npt.ArrayLike, mode: str | None = None, **save: Any) -> bytes:
    """A PNG of ``array`` (rows top to bottom, as PNG stores them); ``mode`` as Pillow names it."""
    data = np.asarray(array)
    if mode == "I;16":
        image = Image.fromarray(data.astype(np.uint16))
    elif mode is None:
        image = Image.fromarray(data)
    else:
        image = Image.fromarray(data).convert(mode) if mode in ("1", "P") else Image.fromarray(data, mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save)
    return buffer.getvalue()


def palette_png(gray: bool) -> bytes:
    """A 4x3 palette PNG whose palette is all gray (or holds colours)."""
    image = Image.new("P", (4, 3))
    palette = [v for i in range(256) for v in ((i, i, i) if gray else (i, 255 - i, i // 2))]
    image.putpalette(palette)
    image.putdata([0, 10, 20, 30] * 3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@lru_cache(maxsize=2)
def png_bomb(side: int = 9_000) -> bytes:
    """A real PNG bomb: ``side`` x ``side`` 8-bit gray zeros (81 Mpx by default) in about 80 kB."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + samples
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` with a tiny IDAT: only the header is hostile."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def png_raw(array: npt.NDArray[Any], colour_type: int) -> bytes:
    """A PNG written by hand from ``array`` (H, W) or (H, W, S), uint8 or big-endian uint16 samples:
    for what Pillow cannot write (16-bit colour). PNG colour types: 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA."""
    height, width = array.shape[:2]
    depth = 16 if array.dtype.itemsize == 2 else 8
    samples = array.astype(">u2" if depth == 16 else np.uint8)
    raw = b"".join(b"\0" + samples[row].tobytes() for row in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


# --- model cards -----------------------------------------------------------------------------


def card_data(**sections: Any) -> dict[str, Any]:
    """A valid card of a one-band FITS + grayscale PNG model; ``sections`` replace whole sections."""
    metrics = {
        "auc": 0.99, "tpr0": 0.2, "tpr10": 0.4, "n_nonlenses": 1500, "n_lenses": 3500,
        "tpr_at_fpr_1e-2": 0.9, "tpr_at_fpr_1e-3": 0.6, "accuracy": 0.95,
        "hard_negative_fpr": {"ring": {"n": 100, "fpr": 0.03}, "spiral": {"n": 0, "fpr": None}},
    }  # fmt: skip
    data: dict[str, Any] = {
        "schema_version": 1,
        "identity": {
            "name": "space", "version": "1.0.0", "created": "2025-01-31T12:00:00Z", "onnx_sha256": "ab" * 32,
            "opset": 18, "git_commit": "0123456789abcdef0123456789abcdef01234567", "git_dirty": False,
        },
        "input": {
            "bands": ["vis"], "height": 101, "width": 101, "pixel_scale_arcsec": 0.1,
            "accepts": ["fits", "png-gray"],
            "preprocessing": {"description": "median, MAD, asinh", "in_graph": True},
            "masked_pixels": "NaN", "nan_handling": "set to 0 after normalisation",
            "stretch": {"name": "gray-asinh", "parameters": {"softening": 3.0}, "description": "defaults"},
        },
        "output": {
            "meaning": "probability of a visible lens", "threshold": 0.7, "threshold_rule": "FPR 1% on val",
            "calibration": {"method": "temperature", "parameters": {"temperature": 1.3}},
            "input_name": "cutouts", "output_names": ["logit", "probability"],
        },
        "training": {
            "data": {
                "source": "simulated space", "simulator_version": "1.0", "seed": 1,
                "counts": {"train": 16000, "val": 4000, "test": 5000}, "label_rule": "visible",
            },
            "architecture": "cnn", "parameters": 12345, "flops_per_cutout": 1.5e8, "epochs": 10,
            "best_epoch": 8, "val_auc": 0.99, "augmentation": {"strength": 0.5}, "search": None,
            "wall_time_s": 600.0, "hardware": "2 CPU cores", "config": {"lr": 0.001, "arch": "cnn"},
        },
        "metrics": {"test_data": "simulated, seed 2", "by_input": {"fits": metrics, "png-gray": metrics}},
        "plots": {"roc": "evaluation/roc.png"},
    }  # fmt: skip
    data.update(sections)
    return data


def model_folder(models_dir: Path, name: str = "space", onnx: bytes = b"graph") -> Path:
    """``models_dir/name`` holding a stand-in ``model.onnx`` and a valid card naming its SHA-256."""
    from app.card import ModelCard, file_sha256

    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onnx)
    data = card_data(plots={})
    data["identity"].update(name=name, onnx_sha256=file_sha256(folder / "model.onnx"))
    ModelCard.from_dict(data).write(folder / "model.json")
    return folder
