"""Packing loaded cutouts into ``POST /classify`` requests: FITS stacks, the fast path of DESIGN section 6.

- Cutouts that share a shape, band names and pixel scale go into one float32 FITS stack: one band
  ``(N, H, W)`` (``FILTER`` naming the band when known), several bands ``(N, C, H, W)`` with ``BANDS``
  naming them in plane order; ``PIXSCALE`` carries the shared pixel scale (arcsec/px), so the service
  still warns ``pixel_scale_mismatch`` where the headers say so. When the request names a model, every
  stack is 4-D ``(N, C, H, W)``: a 3-D stack of exactly C one-band cutouts would otherwise read as one
  C-band cube to a C-band model.
- Files sent as they are (:mod:`app.client.load`) are one part each; a FITS file of several cutouts
  travels so when it fits in one request, else its cutouts are restacked.
- The service scores one model per request, so a request holds one kind of input (format and band
  count); a request holds at most ``max_cutouts`` cutouts, ``max_bytes`` of pixels and ``max_parts``
  parts, within the service's default limits (4096 cutouts, 64 MiB, 256 files).

Every cutout gets a :class:`Slot`: its request, the part it travels in and its index there, so the
answer can be put back in input order (:mod:`app.client.rows`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from app.client.load import Cutout, Loaded

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """How large one request may grow: cutouts, bytes of cutout data, parts."""

    max_cutouts: int = 256
    max_bytes: int = 32 * MIB
    max_parts: int = 256


@dataclass(frozen=True, slots=True)
class Part:
    """One multipart part named ``files``: a file name and its bytes."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Request:
    """The parts of one request and how many cutouts they hold."""

    parts: tuple[Part, ...]
    cutouts: int


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a cutout's result will be: request number, part name, index in that part."""

    request: int
    part: str
    index: int


@dataclass(frozen=True, slots=True)
class Plan:
    """Requests to send, and every cutout in input order with its slot (None: not sent, it failed);
    the cutouts without their pixels, which the requests hold."""

    requests: tuple[Request, ...]
    cutouts: tuple[Cutout, ...]
    slots: tuple[Slot | None, ...]


StackKey = tuple[tuple[int, ...], tuple[str, ...] | None, float | None]
Kind = tuple[str, int]  # (format: "fits" for stacks and FITS sent as they are, or "png"; planes)


@dataclass
class _Open:
    """A request being filled: stacks (cutout positions by stack key), raw parts, counts."""

    stacks: dict[StackKey, list[int]] = field(default_factory=dict)
    raw: list[tuple[Part, list[int]]] = field(default_factory=list)
    cutouts: int = 0
    nbytes: int = 0

    def fits(self, cutouts: int, nbytes: int, new_part: bool, limits: Limits) -> bool:
        if not self.cutouts:
            return True  # an empty request takes anything: a larger file cannot be split
        parts = len(self.stacks) + len(self.raw) + new_part
        return (
            self.cutouts + cutouts <= limits.max_cutouts
            and self.nbytes + nbytes <= limits.max_bytes
            and parts <= limits.max_parts
        )


def header_card(key: str, value: bool | int | float | str, comment: str = "") -> bytes:
    """One 80-byte header card in the FITS standard's fixed format (FITS 4.0, section 4.2): logical
    ``T``/``F``, integer and real right-justified to column 30, a string quoted from column 11 (quotes
    doubled, padded to 8 characters). Reals are Python's shortest repr with an upper-case exponent, so
    they read back exactly. A card that does not fit those forms (a string over 68 characters, a
    non-ASCII or non-finite value) is formatted by astropy's ``Card``, which knows the rest of the
    standard (long strings through CONTINUE) or says why it cannot.

    Why not astropy for every card: the command line's stacks need only these forms, and importing
    astropy.io.fits costs a fifth of a second of the command's start-up, which a run over
    single-cutout files otherwise never pays (app/decode reads their plain headers without it)."""
    if isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, int):
        text = f"{value:>20d}"
    elif isinstance(value, float) and math.isfinite(value):
        text = f"{repr(value).upper():>20}"  # repr of a finite float always holds '.' or 'e'
    elif isinstance(value, str):
        quoted = "'" + value.replace("'", "''").ljust(8) + "'"
        text = f"{quoted:<20}"
    else:
        text = ""
    card = f"{key:<8}= {text}" + (f" / {comment}" if comment else "")
    if text and len(text) <= 70 and len(card) <= 80 and card.isascii() and card.isprintable():
        return card.ljust(80).encode("ascii")
    from astropy.io.fits import Card

    return "".join(Card(key, value, comment).image).encode("ascii")


def stack_fits(cutouts: Sequence[Cutout], *, four_d: bool) -> bytes:
    """One float32 FITS stack of ``cutouts`` (all of one shape, bands and pixel scale).

    The header is written by :func:`header_card`; the pixels straight into the file's buffer as
    big-endian float32, one pass (astropy's ``writeto`` byte-swaps the array in place and back and grows
    a stream: three passes over a 10 MB stack, a sixth of the command line's reading time)."""
    planes = [c.pixels for c in cutouts if c.pixels is not None]
    first = cutouts[0]
    shape: tuple[int, ...] = (len(planes), *planes[0].shape)
    extra = []
    if shape[1] == 1 and not four_d:
        shape = (shape[0], *shape[2:])
        if first.bands:
            extra.append(header_card("FILTER", first.bands[0]))
    elif first.bands:
        extra.append(header_card("BANDS", ",".join(first.bands)))
    if first.pixel_scale is not None:
        extra.append(header_card("PIXSCALE", first.pixel_scale, "[arcsec/px]"))
    cards = [header_card("SIMPLE", True), header_card("BITPIX", -32), header_card("NAXIS", len(shape))]
    cards += [header_card(f"NAXIS{axis}", size) for axis, size in enumerate(reversed(shape), start=1)]
    head = b"".join(cards + extra) + b"END".ljust(80)  # FITS axes run fastest first
    head += b" " * (-len(head) % 2880)
    count = math.prod(shape)
    out = bytearray(len(head) + 4 * count + (-4 * count) % 2880)
    out[: len(head)] = head
    data = np.frombuffer(out, dtype=">f4", count=count, offset=len(head)).reshape(len(planes), -1)
    for row, plane in zip(data, planes, strict=True):
        row[:] = plane.reshape(-1)  # converted to big-endian float32 as it is written
    return bytes(out)


class _Packer:
    """Fills requests per kind of input, closing one when the next item would not fit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.current: dict[Kind, _Open] = {}
        self.closed: list[_Open] = []

    def target(self, kind: Kind, cutouts: int, nbytes: int, new_part: bool) -> _Open:
        request = self.current.get(kind)
        if request is not None and not request.fits(cutouts, nbytes, new_part, self.limits):
            self.closed.append(request)
            request = None
        if request is None:
            request = self.current[kind] = _Open()
        request.cutouts += cutouts
        request.nbytes += nbytes
        return request

    def add_raw(self, loaded: Loaded, first: Cutout, members: list[int]) -> None:
        """The file's original bytes as one part holding the cutouts at plan ``members``."""
        assert loaded.raw is not None
        planes = (
            loaded.planes
            if loaded.planes is not None
            else 0
            if first.pixels is None
            else int(first.pixels.shape[0])
        )
        request = self.target((first.format, planes), len(members), len(loaded.raw), True)
        name = f"file{len(request.raw)}-{loaded.raw_name or 'cutout'}"
        request.raw.append((Part(name, loaded.raw), members))

    def add_stacked(self, cutout: Cutout, position: int) -> None:
        assert cutout.pixels is not None
        key: StackKey = (tuple(cutout.pixels.shape), cutout.bands, cutout.pixel_scale)
        kind: Kind = ("fits", int(cutout.pixels.shape[0]))
        open_now = self.current.get(kind)
        new_part = open_now is None or key not in open_now.stacks
        request = self.target(kind, 1, int(cutout.pixels.nbytes), new_part)
        request.stacks.setdefault(key, []).append(position)

    def requests(self) -> list[_Open]:
        return self.closed + list(self.current.values())


def _fits_whole(raw: bytes, cutouts: int, limits: Limits) -> bool:
    """Whether a file may travel as it is: it fits in one request (else its cutouts are restacked)."""
    return cutouts <= limits.max_cutouts and len(raw) <= limits.max_bytes


def pack(loaded: Sequence[Loaded], limits: Limits, *, named_model: bool) -> Plan:
    """Group the sendable cutouts of ``loaded`` into requests (module docstring)."""
    cutouts: list[Cutout] = []
    packer = _Packer(limits)
    for source in loaded:
        start = len(cutouts)
        cutouts.extend(source.cutouts)
        sendable = [start + k for k, c in enumerate(source.cutouts) if c.error is None]
        if not sendable:
            continue
        if source.raw is not None and (source.raw_required or _fits_whole(source.raw, len(sendable), limits)):
            packer.add_raw(source, cutouts[sendable[0]], sendable)
        else:
            for position in sendable:
                packer.add_stacked(cutouts[position], position)

    slots: list[Slot | None] = [None] * len(cutouts)
    requests: list[Request] = []
    for number, request in enumerate(packer.requests()):
        parts: list[Part] = []
        for part, members in request.raw:
            parts.append(part)
            for position in members:
                slots[position] = Slot(number, part.name, cutouts[position].index or 0)
        for s, members in enumerate(request.stacks.values()):
            name = f"stack{s}.fits"
            parts.append(Part(name, stack_fits([cutouts[m] for m in members], four_d=named_model)))
            for k, position in enumerate(members):
                slots[position] = Slot(number, name, k)
        requests.append(Request(tuple(parts), request.cutouts))
    # the pixels now travel in the requests: rows need only the rest (and a plan made in a reading
    # process is pickled back whole, so pixels kept here would cross the process boundary twice)
    bare = tuple(c if c.pixels is None else replace(c, pixels=None) for c in cutouts)
    return Plan(tuple(requests), bare, tuple(slots))
