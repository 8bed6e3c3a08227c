"""The one-pass multipart splitter: parts in order with names, file names and exact bytes (binary
data full of CR and LF included), text fields, limits, and every malformed body refused clearly."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from app.api.multipart import MultipartError, TooManyParts, boundary_of, parse_multipart


def encoded(files: list[tuple[str, bytes]], data: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    """A body as httpx (the clients' library) encodes it, and its boundary."""
    request = httpx.Request(
        "POST", "http://x/", files=[("files", (name, content)) for name, content in files], data=data
    )
    body = request.read()
    return body, boundary_of(request.headers["content-type"])


def test_binary_parts_come_back_exact() -> None:
    rng = np.random.default_rng(0)
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (0, 1, 4096, 300_000)]
    blobs.append(b"\r\n--\r\n\r\n" * 100)  # CR LF and dashes inside the data
    body, boundary = encoded([(f"c{k}.fits", b) for k, b in enumerate(blobs)], {"note": "hello"})
    parts = parse_multipart(body, boundary, max_parts=10)
    files = [p for p in parts if p.name == "files"]
    assert [p.filename for p in files] == [f"c{k}.fits" for k in range(len(blobs))]
    assert [p.data for p in files] == blobs
    (note,) = [p for p in parts if p.name == "note"]
    assert note.filename is None and note.data == b"hello"


def test_quoted_and_unicode_file_names() -> None:
    body, boundary = encoded([("a b;c.fits", b"x"), ("été.png", b"y")])
    assert [p.filename for p in parse_multipart(body, boundary, 5)] == ["a b;c.fits", "été.png"]


def test_too_many_parts_stops_early() -> None:
    body, boundary = encoded([(f"{k}.fits", b"x") for k in range(5)])
    with pytest.raises(TooManyParts, match="more than 3 parts"):
        parse_multipart(body, boundary, max_parts=3)
    assert len(parse_multipart(body, boundary, max_parts=5)) == 5


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"no boundary here", "does not contain the boundary"),
        (b'--B\r\nContent-Disposition: form-data; name="files"\r\n\r\ndata never closed', "not closed"),
        (b'--B\r\nContent-Disposition: form-data; name="files"\r\nno blank line', "blank line"),
        (b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--\r\n", "no 'Content-Disposition"),
        (b"--Bjunk\r\n\r\nx\r\n--B--", "not followed by CRLF"),
    ],
)
def test_malformed_bodies(body: bytes, match: str) -> None:
    with pytest.raises(MultipartError, match=match):
        parse_multipart(body, b"B", max_parts=10)


def test_boundary_of() -> None:
    assert boundary_of('multipart/form-data; boundary="a-b"') == b"a-b"
    with pytest.raises(MultipartError, match="no multipart boundary"):
        boundary_of("multipart/form-data")
