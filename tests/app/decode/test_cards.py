"""HeaderValues answers as astropy's Header does, on headers of every card form (generated)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from app.decode.cards import HeaderValues

KEYWORDS = ["NAXIS", "BITPIX", "OBJECT", "RA", "DEC", "FILTER", "PIXSCALE", "A-B_1", "X", "BSCALE"]
PRINTABLE = "".join(chr(c) for c in range(32, 127))


def _number_text(draw: Any) -> str:
    kind = draw(st.sampled_from(["int", "float", "exp", "dexp", "lower", "dot"]))
    if kind == "int":
        value = draw(st.integers(-(10**20), 10**20))
        sign = "+" if value >= 0 and draw(st.booleans()) else ""
        return sign + str(value).zfill(draw(st.integers(0, 6)))
    number = draw(st.floats(allow_nan=False, allow_infinity=False, width=64))
    if kind == "float":
        return repr(number)
    if kind == "exp":
        return f"{number:.15E}"
    if kind == "dexp":
        return f"{number:.10E}".replace("E", "D")
    if kind == "lower":
        return f"{number:.6e}"
    return draw(st.sampled_from([".5", "5.", "-.25", "+0.", "1E5", "007.5"]))


@st.composite
def value_fields(draw: Any) -> str:
    kind = draw(st.sampled_from(["number", "string", "quoted", "bool", "empty", "complex", "junk"]))
    if kind == "number":
        text = _number_text(draw)
    elif kind == "string":
        text = "'" + draw(st.text(PRINTABLE.replace("'", ""), max_size=40)) + "'"
    elif kind == "quoted":  # quotes and colons inside: astropy's own rules
        inner = draw(st.text(PRINTABLE, max_size=30)).replace("'", "''")
        text = "'" + inner + "'"
    elif kind == "bool":
        text = draw(st.sampled_from(["T", "F"]))
    elif kind == "empty":
        text = ""
    elif kind == "complex":
        text = "(1.5, -2.0)"
    else:
        text = draw(st.sampled_from(["1.0.0", "TRUE", "abc", "T F", "'open", "1 2"]))
    pad = " " * draw(st.integers(0, 20))
    comment = draw(st.one_of(st.just(""), st.text(PRINTABLE, max_size=20).map(lambda c: " / " + c)))
    return pad + text + comment


@st.composite
def card_images(draw: Any) -> str:
    form = draw(st.sampled_from(["plain"] * 8 + ["comment", "lower", "hierarch", "continue"]))
    keyword = draw(st.sampled_from(KEYWORDS))
    if form == "comment":
        return "COMMENT " + draw(st.text(PRINTABLE, max_size=40))
    if form == "hierarch":
        return f"HIERARCH ESO {keyword} = 5"
    if form == "continue":
        return "CONTINUE  'more'"
    if form == "lower":
        keyword = keyword.lower()
    return keyword.ljust(8) + "= " + draw(value_fields())


def outcome(read: Any) -> tuple[str, Any, type]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = read()
    except Exception as error:
        return ("error", type(error).__name__, type(None))
    return ("value", value, type(value))


@settings(max_examples=400, deadline=None)
@given(st.lists(card_images(), min_size=1, max_size=12))
def test_every_value_is_astropys(images: list[str]) -> None:
    cards = "".join(image[:80].ljust(80) for image in images) + "END".ljust(80)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = fits.Header.fromstring(cards)
    except Exception:
        return  # prescan refuses a header astropy cannot parse before anything asks for values
    values = HeaderValues(header, cards.encode("ascii"))
    for key in [*KEYWORDS, "ABSENT", "COMMENT"]:
        assert outcome(lambda k=key: values.get(k, "default")) == outcome(  # type: ignore[misc]
            lambda k=key: header.get(k, "default")
        ), key
        assert (key in values) == (key in header), key


def test_plain_cards_are_read_without_astropy() -> None:
    cards = (
        "SIMPLE  =                    T / conforms".ljust(80)
        + "NAXIS1  =                  101".ljust(80)
        + "CRVAL1  = -2.7777777777777E-05 / [deg]".ljust(80)
        + "CDELT1  =             1.5D-03".ljust(80)
        + "OBJECT  = '100016  '           / cutout ID".ljust(80)
        + "EMPTY   =".ljust(80)
        + "NAXIS1  =                    7 / a repeat: the first counts".ljust(80)
        + "END".ljust(80)
    )

    class Refusing:  # a header astropy would read: here nothing may be asked of it
        def get(self, key: str, default: Any = None) -> Any:
            raise AssertionError(f"astropy asked for {key}")

        def __contains__(self, key: str) -> bool:
            raise AssertionError(f"astropy asked about {key}")

    values = HeaderValues(Refusing(), cards.encode("ascii"))  # type: ignore[arg-type]
    assert values.get("SIMPLE") is True
    assert values.get("NAXIS1") == 101 and isinstance(values.get("NAXIS1"), int)
    assert values.get("CRVAL1") == -2.7777777777777e-05
    assert values.get("CDELT1") == 1.5e-3
    assert values.get("OBJECT") == "100016"
    assert values.get("EMPTY", "default") is None and "EMPTY" in values
    assert values.get("BZERO", 0.0) == 0.0 and "BZERO" not in values
    with pytest.raises(KeyError):
        values["BZERO"]


def test_a_header_without_its_bytes_is_astropys() -> None:
    header = fits.Header([("NAXIS", 2), ("OBJECT", "x")])
    values = HeaderValues.of(header)
    assert values.get("NAXIS") == 2 and values["OBJECT"] == "x" and "RA" not in values
    assert HeaderValues.of(values) is values


@settings(max_examples=300, deadline=None)
@given(st.lists(card_images(), min_size=1, max_size=12), st.integers(0, 3))
def test_a_header_read_without_astropy_ends_and_reads_as_astropys(images: list[str], lead: int) -> None:
    import io

    from app.decode.cards import read_plain_header

    text = "".join(image[:80].ljust(80) for image in images) + "END".ljust(80)
    text += " " * (-len(text) % 2880)
    data = b"\0" * (2880 * lead) + text.encode("ascii", "replace") + b"\0" * 2880  # data after it
    plain = read_plain_header(memoryview(data), 2880 * lead)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stream = io.BytesIO(data)
            stream.seek(2880 * lead)
            header = fits.Header.fromfile(stream)
    except Exception:
        assert plain is None  # what astropy cannot read is left to astropy, which says why
        return
    if plain is None:
        return  # a card outside the plain forms: astropy reads this header
    end, values = plain
    assert end == stream.tell()
    for key in [*KEYWORDS, "ABSENT"]:
        assert outcome(lambda k=key: values.get(k, "default")) == outcome(  # type: ignore[misc]
            lambda k=key: header.get(k, "default")
        ), key
    assert values.header == header  # parsed on demand, the same header


def test_a_header_is_read_without_astropy_only_when_every_card_is_plain() -> None:
    from app.decode.cards import read_plain_header

    def header(*cards: str) -> bytes:
        text = "".join(card.ljust(80) for card in (*cards, "END"))
        return (text + " " * (-len(text) % 2880)).encode("ascii")

    plain = header("SIMPLE  = T", "NAXIS   = 0", "COMMENT anything")
    found = read_plain_header(plain, 0)
    assert found is not None and found[0] == 2880 and found[1].get("NAXIS") == 0
    # a repeated keyword's later card is never answered, yet astropy must still read a header holding
    # one it cannot read plainly, like any other
    assert read_plain_header(header("SIMPLE  = T", "NAXIS   = 0", "NAXIS   = TRUE"), 0) is None
    assert read_plain_header(header("SIMPLE  = T", "HIERARCH ESO X = 1"), 0) is None
    assert read_plain_header(plain[:2000], 0) is None  # the END card's block is not all there
