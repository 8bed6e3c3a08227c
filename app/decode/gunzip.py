"""Gzip inflation with a hard cap on the inflated size.

``gzip.decompress`` inflates everything before returning, so a 1 MB gzip bomb can allocate a GB.
Here the stream is fed to zlib in small chunks with ``max_length`` bounding each step's output, and
inflation stops as soon as the output passes the cap: memory stays within cap + one chunk (or one
chunk only, when the output is only counted).
"""

from __future__ import annotations

import zlib

from app.decode.errors import DecodeError, ErrorCode

_IN_CHUNK = 64 * 1024
_OUT_CHUNK = 1 << 20
# wbits 16 + MAX_WBITS: a gzip wrapper (header and CRC32/ISIZE trailer) is required and checked.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _inflate(
    data: bytes, max_bytes: int, *, what: str, keep: bool, too_large: ErrorCode
) -> tuple[bytearray, int]:
    out = bytearray()
    total = 0
    view = memoryview(data)
    pos = 0
    while pos < len(view):
        inflater = zlib.decompressobj(_GZIP_WBITS)
        while not inflater.eof:
            if inflater.unconsumed_tail:
                chunk = inflater.unconsumed_tail
            elif pos < len(view):
                chunk = bytes(view[pos : pos + _IN_CHUNK])
                pos += len(chunk)
            else:
                raise DecodeError(
                    "bad_fits", f"{what} is truncated: its gzip stream ends before its end marker"
                )
            try:
                piece = inflater.decompress(chunk, _OUT_CHUNK)
            except zlib.error as exc:
                raise DecodeError("bad_fits", f"{what} is corrupt: {exc}") from None
            total += len(piece)
            if total > max_bytes:
                raise DecodeError(too_large, f"{what} inflates to more than {max_bytes} bytes, the limit")
            if keep:
                out += piece
        # Whatever follows a member's trailer is either another gzip member or padding.
        pos -= len(inflater.unused_data)
        if not data.startswith(b"\x1f\x8b", pos):
            if data[pos:].strip(b"\0"):
                raise DecodeError("bad_fits", f"{what} has {len(view) - pos} bytes of garbage after its end")
            break  # zero padding after the last member (tape-style blocking) is harmless
    return out, total


def gunzip_capped(data: bytes, max_bytes: int, *, what: str = "the gzip file") -> bytes:
    """Inflate ``data`` (one or more concatenated gzip members) to at most ``max_bytes`` bytes.

    Raises DecodeError ``too_large`` as soon as the output would pass ``max_bytes``, and ``bad_fits``
    (FITS is the only gzip payload accepted) when the stream is corrupt or truncated.
    """
    out, _ = _inflate(data, max_bytes, what=what, keep=True, too_large="too_large")
    return bytes(out)


def gunzip_size_capped(data: bytes, max_bytes: int, *, what: str, too_large: ErrorCode) -> int:
    """Inflated size of ``data`` without keeping the output; raises ``too_large`` past ``max_bytes``."""
    _, total = _inflate(data, max_bytes, what=what, keep=False, too_large=too_large)
    return total
