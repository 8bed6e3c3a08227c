"""Guards for tile-compressed image HDUs (FITS 4.0 section 10), checked before anything is inflated.

A tile-compressed image is a binary table whose rows are compressed tiles. Two ways to make it
allocate more than it declares: a huge declared image (ZNAXISn), and a GZIP tile that inflates far
past its tile size (astropy inflates GZIP tiles with ``gzip.decompress``, which has no cap). The first
is refused from the header; the second by inflating every GZIP tile once, in chunks, with a cap of
one tile's bytes, before astropy touches the data. RICE, PLIO and HCOMPRESS decoders write into a
buffer of the tile's declared size, except that the HCOMPRESS decoder takes the tile's dimensions
from the stream: those are checked against the tile too (a mismatch would overflow the buffer).
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.decode.errors import DecodeError
from app.decode.gunzip import gunzip_size_capped
from app.decode.limits import DecodeLimits

if TYPE_CHECKING:
    from astropy.io.fits import BinTableHDU

_KNOWN = {"GZIP_1", "GZIP_2", "RICE_1", "RICE_ONE", "PLIO_1", "HCOMPRESS_1", "NOCOMPRESS"}
_GZIP = {"GZIP_1", "GZIP_2"}
_TFORM = re.compile(r"^\s*(\d*)([PQ])([A-Z])")


@dataclass(frozen=True, slots=True)
class CompressedImage:
    """What a tile-compressed HDU declares: numpy-order shape and the BITPIX of the image."""

    shape: tuple[int, ...]
    bitpix: int


def is_compressed_image(hdu: Any) -> bool:
    """True for a binary-table HDU that holds a tile-compressed image (ZIMAGE = T)."""
    from astropy.io.fits import BinTableHDU  # only HDUs astropy opened come here

    return isinstance(hdu, BinTableHDU) and hdu.header.get("ZIMAGE") is True


def _int_keyword(header: Any, key: str, label: str, default: int | None = None) -> int:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise DecodeError("bad_fits", f"{label}: keyword {key} = {value!r} is not a non-negative integer")
    return int(value)


def check_compressed_hdu(hdu: BinTableHDU, data: bytes, label: str, limits: DecodeLimits) -> CompressedImage:
    """Check a tile-compressed HDU against ``limits`` and its own declarations, reading only bytes.

    Raises ``compressed_hdu_too_large`` (declared pixels or a GZIP tile over its size),
    ``unsupported_data`` (unknown compression or BITPIX) or ``bad_fits`` (inconsistent or truncated).
    """
    header = hdu.header
    ndim = _int_keyword(header, "ZNAXIS", label)
    if ndim > 999:  # prescan refuses this already; a loop over range(ZNAXIS) must never be huge
        raise DecodeError("bad_fits", f"{label}: ZNAXIS = {ndim} is over the FITS maximum of 999")
    axes = [_int_keyword(header, f"ZNAXIS{k}", label) for k in range(1, ndim + 1)]
    pixels = math.prod(axes)
    if pixels > limits.max_pixels:
        raise DecodeError(
            "compressed_hdu_too_large",
            f"{label} is a tile-compressed image declaring {'x'.join(map(str, reversed(axes)))} = {pixels} "
            f"pixels; the limit is {limits.max_pixels} pixels per image",
        )
    bitpix = header.get("ZBITPIX")
    if bitpix not in (8, 16, 32, 64, -32, -64):
        raise DecodeError("unsupported_data", f"{label}: ZBITPIX = {bitpix!r} is not a FITS data type")
    method = str(header.get("ZCMPTYPE", "")).strip().upper()
    if method not in _KNOWN:
        raise DecodeError("unsupported_data", f"{label}: unknown tile compression ZCMPTYPE = {method!r}")
    _check_settings(header, method, label)
    shape = tuple(reversed(axes))
    if pixels == 0:
        return CompressedImage(shape, int(bitpix))

    tile = [
        min(_int_keyword(header, f"ZTILE{k}", label, axes[0] if k == 1 else 1) or 1, axes[k - 1])
        for k in range(1, ndim + 1)
    ]
    n_tiles = math.prod(math.ceil(a / t) for a, t in zip(axes, tile, strict=True))
    rows, row_bytes = _int_keyword(header, "NAXIS2", label), _int_keyword(header, "NAXIS1", label)
    if rows != n_tiles:
        raise DecodeError("bad_fits", f"{label}: {rows} compressed tiles stored but {n_tiles} declared")
    heap_bytes = _int_keyword(header, "PCOUNT", label, 0)
    start = int(hdu.fileinfo()["datLoc"])
    if start + rows * row_bytes + heap_bytes > len(data):
        raise DecodeError("bad_fits", f"{label}: the file is truncated inside the compressed image data")
    heap = start + _int_keyword(header, "THEAP", label, rows * row_bytes)
    _scan_tiles(hdu, data, start, (heap, heap_bytes), axes, tile, method, label)
    return CompressedImage(shape, int(bitpix))


def _setting(header: Any, name: str, default: Any) -> Any:
    """A ZNAMEn/ZVALn compression parameter, looked up the way astropy looks it up."""
    for k in range(1, 1000):
        key = header.get(f"ZNAME{k}")
        if key is None:
            break
        if str(key).lower() == name.lower():
            return header.get(f"ZVAL{k}")
    return default


def _check_settings(header: Any, method: str, label: str) -> None:
    """Parameters that astropy hands to C decoders unchecked (a bad one crashes the process)."""
    if method in ("RICE_1", "RICE_ONE"):
        blocksize, bytepix = _setting(header, "BLOCKSIZE", 32), _setting(header, "BYTEPIX", 4)
        if blocksize not in (16, 32) or bytepix not in (1, 2, 4):
            raise DecodeError(
                "unsupported_data",
                f"{label}: RICE parameters BLOCKSIZE = {blocksize!r}, BYTEPIX = {bytepix!r} "
                "are not the standard's (16 or 32; 1, 2 or 4)",
            )
    quantize = str(header.get("ZQUANTIZ", "NO_DITHER")).strip().upper()
    if quantize not in ("NO_DITHER", "SUBTRACTIVE_DITHER_1", "SUBTRACTIVE_DITHER_2"):
        raise DecodeError("unsupported_data", f"{label}: unknown quantisation ZQUANTIZ = {quantize!r}")
    if quantize != "NO_DITHER":
        seed = header.get("ZDITHER0", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 1 <= seed <= 10_000:
            raise DecodeError("bad_fits", f"{label}: ZDITHER0 = {seed!r} is outside the standard's 1..10000")


def _tile_pixels(row: int, axes: list[int], tile: list[int]) -> int:
    """Pixels of tile number ``row`` (tiles in FITS order, first axis fastest; edge tiles are cut)."""
    count = 1
    for size, step in zip(axes, tile, strict=True):
        per_axis = math.ceil(size / step)
        index, row = row % per_axis, row // per_axis
        count *= min(step, size - index * step)
    return count


def _check_hcompress(chunk: bytes, pixels: int, label: str) -> None:
    # cfitsio's decoder takes nx, ny from the stream (after the 2-byte magic, big-endian int32s) and
    # writes nx * ny values into a buffer astropy sized from the header: they must agree.
    if len(chunk) < 10 or chunk[:2] != b"\xdd\x99":
        raise DecodeError("bad_fits", f"{label}: an HCOMPRESS tile has no valid stream header")
    nx, ny = struct.unpack(">ii", chunk[2:10])
    if nx <= 0 or ny <= 0 or nx * ny != pixels:
        raise DecodeError(
            "bad_fits", f"{label}: an HCOMPRESS tile says {nx}x{ny} pixels, its tile holds {pixels}"
        )


def _scan_tiles(
    hdu: BinTableHDU,
    data: bytes,
    start: int,
    heap: tuple[int, int],
    axes: list[int],
    tile: list[int],
    method: str,
    label: str,
) -> None:
    """Check every tile's descriptor and, where the decoder trusts the stream, the stream itself."""
    columns = hdu.columns
    row_dtype = columns.dtype.newbyteorder(">")
    if row_dtype.itemsize != hdu.header["NAXIS1"]:
        raise DecodeError("bad_fits", f"{label}: the table row size does not match its columns")
    table = np.frombuffer(data, dtype=row_dtype, count=hdu.header["NAXIS2"], offset=start)
    heap_start, heap_bytes = heap
    for column in columns:
        match = _TFORM.match(str(column.format))
        if match is None:
            continue  # a fixed-size column (ZSCALE, ZZERO, ZBLANK): nothing to follow
        gzip = column.name == "GZIP_COMPRESSED_DATA" or (column.name == "COMPRESSED_DATA" and method in _GZIP)
        hcompress = column.name == "COMPRESSED_DATA" and method == "HCOMPRESS_1"
        if (gzip or hcompress) and match.group(3) != "B":
            raise DecodeError("unsupported_data", f"{label}: column {column.name} has format {column.format}")
        descriptors = np.asarray(table[column.name], dtype=np.int64).reshape(-1, 2)
        for row, (count, offset) in enumerate(descriptors.tolist()):
            if count < 0 or offset < 0 or offset + count > heap_bytes:
                raise DecodeError("bad_fits", f"{label}: a compressed tile points outside the heap")
            if count == 0 or not (gzip or hcompress):
                continue
            chunk = data[heap_start + offset : heap_start + offset + count]
            pixels = _tile_pixels(row, axes, tile)
            if hcompress:
                _check_hcompress(chunk, pixels, label)
            else:  # quantised floats inflate to 4-byte integers, -64 data to 8 bytes: 8 bounds all
                gunzip_size_capped(
                    chunk, pixels * 8, what=f"{label}: a GZIP tile", too_large="compressed_hdu_too_large"
                )
