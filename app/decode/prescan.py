"""A walk over the FITS headers before astropy builds HDUs from them.

astropy builds Python lists sized by header values (``range(NAXIS)``, ``range(TFIELDS)``,
``range(ZNAXIS)``) as it turns each header into an HDU, so one card such as NAXIS = 10**18 can make
it spin for minutes. This walk reads each header as astropy's own header parser does (a header of the
plain card forms through app/decode/cards.py, which reads them as astropy does, and any other with
astropy's parser itself: the same values, duplicates and odd formatting included), checks the
structural cards against the FITS standard's bounds (NAXIS, ZNAXIS, TFIELDS at most 999) and the
HDU limit, computes the data size as astropy will and skips to the next header. It stops where the
file stops being a sequence of HDUs; astropy then reports what it makes of the rest (trailing bytes
become a warning).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from app.decode.cards import HeaderValues, read_plain_header
from app.decode.errors import DecodeError
from app.decode.limits import DecodeLimits
from app.decode.types import FileBytes

BLOCK = 2880
MAX_AXES = 999  # FITS 4.0 section 4.4.1: NAXIS <= 999; the same bound is applied to TFIELDS, ZNAXIS


@dataclass(frozen=True, slots=True)
class HduSpan:
    """Where one HDU lies in the file: its header's card values (read once from the bytes as stored;
    astropy's header is ``values.header``), and the byte offsets of its data."""

    values: HeaderValues
    data_start: int
    data_bytes: int

    @property
    def end(self) -> int:
        """The offset just after the HDU's last data block (data padded to 2880 bytes)."""
        return self.data_start + math.ceil(self.data_bytes / BLOCK) * BLOCK


def _int(header: HeaderValues, key: str, label: str, default: int) -> int:
    value = header.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError("bad_fits", f"{label}: {key} = {value!r} is not an integer")
    return value


def _bounded(header: HeaderValues, key: str, label: str) -> int:
    value = _int(header, key, label, 0)
    if not 0 <= value <= MAX_AXES:
        raise DecodeError("bad_fits", f"{label}: {key} = {value} is outside the FITS range 0..{MAX_AXES}")
    return value


def _data_bytes(header: HeaderValues, index: int, label: str) -> int:
    naxis = _bounded(header, "NAXIS", label)
    _bounded(header, "TFIELDS", label)
    _bounded(header, "ZNAXIS", label)
    if naxis == 0:
        return 0
    axes = [_int(header, f"NAXIS{k}", label, 0) for k in range(1, naxis + 1)]
    bitpix = _int(header, "BITPIX", label, 0)
    pcount, gcount = _int(header, "PCOUNT", label, 0), _int(header, "GCOUNT", label, 1)
    if bitpix not in (8, 16, 32, 64, -32, -64) or min(axes) < 0 or pcount < 0 or gcount < 0:
        raise DecodeError(
            "bad_fits",
            f"{label}: BITPIX = {bitpix}, NAXISn = {axes}, PCOUNT = {pcount}, GCOUNT = {gcount} "
            "is not valid FITS",
        )
    # Random groups (NAXIS1 = 0 with GROUPS = T in the primary header) count from NAXIS2.
    groups = index == 0 and axes[0] == 0 and header.get("GROUPS") is True
    cells = math.prod(axes[1:]) if groups else math.prod(axes)
    return abs(bitpix) // 8 * gcount * (pcount + cells)


class _Reader(io.RawIOBase):
    """A seekable binary file over ``data`` that reads without copying it first (``io.BytesIO`` copies
    anything but ``bytes``, and a request's file is a memoryview of its body)."""

    def __init__(self, data: FileBytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def prescan(data: FileBytes, limits: DecodeLimits) -> list[HduSpan]:
    """Check every header's structural cards (see the module docstring); raises DecodeError.

    Returns the HDUs found, in order, up to where the file stops being a sequence of HDUs."""
    stream: Any = _Reader(data)
    spans: list[HduSpan] = []
    pos = 0
    index = 0
    while pos + BLOCK <= len(data):
        if index > 0 and data[pos : pos + 8] != b"XTENSION":
            return spans  # not another HDU: astropy will warn about trailing bytes
        if index >= limits.max_hdus:
            raise DecodeError("too_large", f"the file holds more than {limits.max_hdus} HDUs, the limit")
        label = f"HDU {index}"
        plain = read_plain_header(data, pos)
        if plain is not None:
            header_end, values = plain
        else:
            from astropy.io.fits import Header  # here: a plain header needs no astropy

            stream.seek(pos)
            try:
                header = Header.fromfile(stream)
            except Exception as exc:  # a header astropy cannot parse: astropy's own open would fail too
                raise DecodeError("bad_fits", f"{label}: the header cannot be read: {exc}"[:300]) from None
            header_end = stream.tell()
            values = HeaderValues(header, bytes(data[pos:header_end]))
        span = HduSpan(values, header_end, _data_bytes(values, index, label))
        spans.append(span)
        pos = span.end
        index += 1
    return spans
