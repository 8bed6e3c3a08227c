"""A multipart/form-data body (RFC 7578) split into its parts in one pass over the bytes.

Why not Starlette's parser: it drives python-multipart's byte-level state machine, which calls back
for every carriage return it meets inside a part's data; binary FITS pixels hold one every 256 bytes
or so, so a 10 MB stack costs tens of thousands of Python callbacks and buffer writes, about as much
CPU as scoring its 256 cutouts. Here the boundary is found with ``bytes.find`` (C speed) and each
part's data is a memoryview of the body, not a copy (a copy of a 10 MB stack is a pass over memory
that the decoder, which reads memoryviews, does not need). The body is already bounded by
LENSFINDER_MAX_REQUEST_BYTES before it is read (app/api/body_limit.py).

Header parameters (``name``, ``filename``, quoting) are parsed by python-multipart's
``parse_options_header``, the function Starlette uses for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from python_multipart.multipart import parse_options_header

MAX_HEADER_BYTES = 16 * 1024  # per part; real clients send a few hundred bytes


class MultipartError(ValueError):
    """The body is not a well-formed multipart/form-data body; the message says where."""


class TooManyParts(MultipartError):
    """The body holds more parts than allowed."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its form field ``name``, the client's ``filename`` (None for a text field), its bytes
    (a view of the body)."""

    name: str
    filename: str | None
    data: memoryview


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type header; MultipartError if it has none."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise MultipartError("the Content-Type header names no multipart boundary")
    return boundary


def parse_multipart(body: bytes, boundary: bytes, max_parts: int) -> list[Part]:
    """The parts of ``body`` in order. Raises TooManyParts past ``max_parts`` (before reading the
    next part's data) and MultipartError for a malformed body (missing boundary, unterminated part,
    headers without their blank line, a part without ``Content-Disposition: form-data; name=...``)."""
    delimiter = b"--" + boundary
    pos = body.find(delimiter)
    if pos < 0:
        raise MultipartError("the body does not contain the boundary given in the Content-Type header")
    parts: list[Part] = []
    view = memoryview(body)
    while True:
        pos += len(delimiter)
        if body.startswith(b"--", pos):
            return parts  # the close delimiter; anything after it is an epilogue, ignored by the RFC
        line_end = body.find(b"\r\n", pos)
        if line_end < 0 or body[pos:line_end].strip(b" \t"):
            raise MultipartError(f"a boundary line is not followed by CRLF (byte {pos})")
        if len(parts) == max_parts:
            raise TooManyParts(f"the body has more than {max_parts} parts")
        headers_end = body.find(b"\r\n\r\n", line_end, line_end + 2 + MAX_HEADER_BYTES)
        if headers_end < 0:
            raise MultipartError(f"part {len(parts)}: its headers do not end with a blank line")
        name, filename = _disposition(body[line_end + 2 : headers_end], len(parts))
        data_start = headers_end + 4
        next_delimiter = body.find(b"\r\n" + delimiter, data_start)
        if next_delimiter < 0:
            raise MultipartError(f"part {len(parts)} ({name!r}) is not closed by a boundary")
        parts.append(Part(name, filename, view[data_start:next_delimiter]))
        pos = next_delimiter + 2


def _disposition(raw: bytes, index: int) -> tuple[str, str | None]:
    """(name, filename) from a part's header block."""
    for line in raw.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == b"content-disposition":
            kind, params = parse_options_header(value.strip())
            if kind.lower() != b"form-data" or b"name" not in params:
                break
            filename = params.get(b"filename")
            return (
                params[b"name"].decode("utf-8", "replace"),
                None if filename is None else filename.decode("utf-8", "replace"),
            )
    raise MultipartError(f"part {index} has no 'Content-Disposition: form-data; name=...' header")
