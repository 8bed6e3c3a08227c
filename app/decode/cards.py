"""The values of a FITS header's cards, read once: what decoding asks of every header.

Why: astropy parses a card's value the first time it is asked for, and every later ``header.get`` goes
through its keyword index, its configuration (``conf.strip_header_whitespace``, read on every access)
and the card again; decoding a one-cutout file asks about 35 times (structure, scaling, band names,
identifiers, position), which was most of the cost of decoding such a file.

:class:`HeaderValues` answers ``get`` and ``in`` from one pass over the header's bytes as stored, for the
cards of the FITS standard's fixed format that astropy itself reads the same way: a keyword of
``A-Z 0-9 _ -`` in columns 1-8, ``= `` in columns 9-10, and a value that is a logical (``T``, ``F``), an
integer, a real (``E`` or ``D`` exponent), a string without quotes inside it, or nothing (undefined:
None), with an optional ``/`` comment. A card of any other form (a string holding a quote or a colon,
a complex number, lower-case exponents, ...) is read by astropy when asked for, and a header holding
any card outside the standard's plain forms (HIERARCH, CONTINUE, a keyword astropy would normalise)
is read by astropy throughout. Values are those of astropy's ``Header.get``: the first card of a
repeated keyword, strings without trailing blanks, ``int`` for integers, ``float`` for reals.
``tests/app/decode/test_cards.py`` checks the equality on generated headers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # astropy.io.fits is imported only where a header needs it (a fifth of a second)
    from astropy.io.fits import Header

CARD = 80
BLOCK = 2880
_END = b"END" + b" " * 77
_PRINTABLE = re.compile(rb"[ -~]*\Z")
_ASK: Final = object()  # a card astropy must read
_MISSING: Final = object()
_COMMENTARY = (b"COMMENT ", b"HISTORY ", b"        ")
_ASTROPY_KEYS = frozenset({"COMMENT", "HISTORY", "", "CONTINUE", "END"})  # commentary: astropy's objects
_KEYWORD = re.compile(rb"[A-Z0-9_-]{1,8} *\Z")
# astropy's fixed-format value grammar (astropy/io/fits/card.py, _value_FSC_RE), narrowed to what is
# read here: strings without quotes inside, no complex numbers
_VALUE = re.compile(
    rb" *(?:'(?P<str>[ -&(-~]*)'(?=$|/| )"
    rb"|(?P<bool>[FT])"
    rb"|(?P<num>[+-]?(?:\.\d+|\d+(?:\.\d*)?)(?:[DE][+-]?\d+)?)"
    rb"|)"  # no value: undefined
    rb" *(?:/[ -~]*)?\Z",
)
_INTEGER = re.compile(rb"[+-]?\d+\Z")


class HeaderValues:
    """Card values of one header (module docstring): ``get(key, default)``, ``key in values`` and
    ``values[key]`` as astropy's ``Header`` answers them. ``header`` is astropy's (for what needs the
    whole header: a WCS), parsed from ``cards`` when first asked for if not given; ``cards`` the
    header's bytes as stored (80-byte cards, up to or past the END card), None for a header astropy
    built (a decompressed image's), which is then read by astropy.
    """

    __slots__ = ("_header", "_values", "cards")

    def __init__(
        self, header: Header | None, cards: bytes | None = None, values: dict[str, Any] | None = None
    ) -> None:
        if header is None and cards is None:
            raise ValueError("HeaderValues needs astropy's header or the header's bytes")
        self._header = header
        self.cards = cards
        self._values: dict[str, Any] | object | None = _MISSING if values is None else values

    @property
    def header(self) -> Header:
        """astropy's Header (parsed from the stored bytes on first use, as ``Header.fromfile`` would)."""
        if self._header is None:
            from astropy.io.fits import Header

            assert self.cards is not None
            self._header = Header.fromstring(self.cards.decode("ascii"))
        return self._header

    @classmethod
    def of(cls, header: Header | HeaderValues) -> HeaderValues:
        """``header`` as HeaderValues (an astropy Header is read by astropy)."""
        return header if isinstance(header, HeaderValues) else cls(header)

    def _table(self) -> dict[str, Any] | None:
        if self._values is _MISSING:
            scanned = None if self.cards is None else _scan(self.cards)  # values read here, or _ASK
            self._values = None if scanned is None else scanned[0]
        return self._values  # type: ignore[return-value]

    @property
    def plain(self) -> bool:
        """Whether every keyword's value is read here, without astropy (commentary cards aside)."""
        table = self._table()
        return table is not None and _ASK not in table.values()

    def get(self, key: str, default: Any = None) -> Any:
        table = self._table()
        upper = key.upper()
        if table is None or upper in _ASTROPY_KEYS:
            return self.header.get(key, default)
        value = table.get(upper, _MISSING)
        if value is _ASK:
            return self.header.get(key, default)
        return default if value is _MISSING else value

    def __contains__(self, key: str) -> bool:
        table = self._table()
        if table is None or key.upper() in _ASTROPY_KEYS:
            return key in self.header
        return key.upper() in table

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(f"Keyword {key!r} not found.")
        return self.get(key)


def read_plain_header(data: Any, start: int) -> tuple[int, HeaderValues] | None:
    """The header starting at byte ``start`` of ``data`` (bytes or a memoryview), read without astropy
    when every card before END is of the plain forms read here or commentary, all printable ASCII, and
    the file holds the whole block of its END card: (the offset after that block, its values, whose
    astropy header is parsed only if something asks for it). None otherwise: astropy's header reader
    decides (and says what is wrong)."""
    scanned = _scan(memoryview(data)[start:])
    if scanned is None:
        return None
    values, after_end, read_all = scanned
    if after_end is None or not read_all:
        return None
    stop = start + after_end + (-after_end % BLOCK)
    if stop > len(data):
        return None
    return stop, HeaderValues(None, bytes(data[start:stop]), values)


def _scan(cards: Any) -> tuple[dict[str, Any], int | None, bool] | None:
    """Every keyword's value in ``cards`` (bytes or a memoryview; _ASK where astropy must read the card),
    the offset just after the END card (None when ``cards`` holds none), and whether every card's value
    was read here (repeated keywords included); None when a card is neither of the plain forms nor
    printable commentary (HIERARCH, CONTINUE, a keyword without a value indicator or one astropy would
    normalise): astropy reads that header throughout."""
    values: dict[str, Any] = {}
    read_all = True
    for offset in range(0, len(cards) - CARD + 1, CARD):
        card = bytes(cards[offset : offset + CARD])
        if card == _END:
            return values, offset + CARD, read_all
        if card[8:10] == b"= " and _KEYWORD.match(card[:8]):
            value = _value(card[10:])
            read_all = read_all and value is not _ASK
            # astropy answers with a repeated keyword's first card
            values.setdefault(card[:8].rstrip().decode("ascii"), value)
        elif not (card[:8] in _COMMENTARY and _PRINTABLE.match(card)):
            return None
    return values, None, read_all


def _value(field: bytes) -> Any:
    """A card's value from columns 11-80, as astropy reads it; _ASK where astropy must."""
    match = _VALUE.match(field)
    if match is None:
        return _ASK
    text, logical, number = match.group("str", "bool", "num")
    if text is not None:
        if b":" in text:  # 'AXIS.1: 2' may be a record-valued keyword card, which astropy reads apart
            return _ASK
        if not text and b"'" in field[match.end("str") + 1 :]:
            return _ASK  # astropy reads '' / 'x' as the string "' / " (its pattern wants a character)
        return text.decode("ascii").rstrip()
    if logical is not None:
        return logical == b"T"
    if number is not None:
        if _INTEGER.match(number):
            return int(number)
        return float(number.replace(b"D", b"E"))
    return None  # no value: undefined, which astropy's Header.get gives as None
