"""A lean HTTP/1.1 load generator for the service benchmarks: prebuilt requests over keep-alive sockets.

The client shares the machine with the service, so it must cost as little CPU as possible: each
request's bytes (headers and multipart body) are built once, and each simulated client is one asyncio
stream that writes them and reads the response by its Content-Length (no HTTP library per request).
Only what the service sends back is parsed: the status line and, for a sample, the JSON body.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


def multipart_request(host: str, port: int, path: str, files: list[tuple[str, bytes, str]]) -> bytes:
    """The full bytes of ``POST path`` with parts named ``files`` (filename, content, content type)."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, content, ctype in files:
        body.write(f"--{boundary}\r\n".encode())
        body.write(f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'.encode())
        body.write(f"Content-Type: {ctype}\r\n\r\n".encode())
        body.write(content)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    payload = body.getvalue()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: keep-alive\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float


@dataclass
class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> Response:
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            assert self.reader is not None
            t0 = time.perf_counter()
            try:
                self.writer.write(request)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed")
                length, close = 0, False
                while (line := await self.reader.readline()) not in (b"\r\n", b""):
                    key, _, value = line.decode("latin-1").partition(":")
                    key = key.strip().lower()
                    if key == "content-length":
                        length = int(value)
                    elif key == "connection" and value.strip().lower() == "close":
                        close = True
                body = await self.reader.readexactly(length)
                if close:
                    await self.close()
                return Response(int(status_line.split()[1]), body, time.perf_counter() - t0)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    requests: int = 0
    cutouts: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    sample: Any = None


async def closed_loop(
    host: str, port: int, request: bytes, cutouts_per_request: int, clients: int, seconds: float
) -> LoadResult:
    """``clients`` connections each sending ``request`` back to back for ``seconds``; counts the
    cutouts of 200 answers (cutouts/s = throughput at that concurrency)."""
    result = LoadResult()
    stop = time.perf_counter() + seconds

    async def client() -> None:
        conn = Connection(host, port)
        try:
            while time.perf_counter() < stop:
                resp = await conn.send(request)
                _count(result, resp, cutouts_per_request)
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - t0
    return result


async def open_loop(
    host: str, port: int, request: bytes, cutouts_per_request: int, rate: float, seconds: float
) -> LoadResult:
    """Requests sent at a fixed ``rate`` per second (evenly spaced, each on a free connection, new ones
    opened as needed), whatever the answers' speed: latency at a fixed offered load."""
    result = LoadResult()
    idle: list[Connection] = []
    tasks = []

    async def one() -> None:
        conn = idle.pop() if idle else Connection(host, port)
        resp = await conn.send(request)
        _count(result, resp, cutouts_per_request)
        idle.append(conn)

    t0 = time.perf_counter()
    n = int(rate * seconds)
    for k in range(n):
        delay = t0 + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - t0
    for conn in idle:
        await conn.close()
    return result


def _count(result: LoadResult, resp: Response, cutouts_per_request: int) -> None:
    result.requests += 1
    result.latencies.append(resp.seconds)
    if resp.status == 200:
        result.cutouts += cutouts_per_request
        if result.sample is None:
            result.sample = json.loads(resp.body)
    else:
        result.errors[resp.status] = result.errors.get(resp.status, 0) + 1
