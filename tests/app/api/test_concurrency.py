"""Concurrent clients in one event loop: own results in order, shared batches, a full queue, batch
invariance of scores, and a client that leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.app.service_helpers import (
    HeldInference,
    files,
    link_shipped,
    settings,
    tiny_model,
    tiny_probability,
)
from tests.factories import image_fits, noise

pytestmark = pytest.mark.anyio
SIZE = 101


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def running(config: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app through its real lifespan, ready, and an async client in the same loop."""
    application = create_app(config)
    async with application.router.lifespan_context(application):
        assert await application.state.service.wait_ready()
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            yield application, client


def constant_stack(values: list[float]) -> np.ndarray:
    return np.stack([np.full((SIZE, SIZE), v, np.float32) for v in values])


async def test_many_concurrent_clients_get_their_own_results_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model(tmp_path, "space")
    held = HeldInference(monkeypatch)  # records batch sizes, holds nothing
    clients = 32
    # distinct values in steps of 1/8: the tiny model's float32 mean of a constant image is then exact
    stacks = [constant_stack([(c * 4 + k - 64) / 8 for k in range(1 + c % 4)]) for c in range(clients)]
    async with running(settings(tmp_path, max_batch=16, max_wait_ms=20)) as (_, client):

        async def one(c: int) -> list[float]:
            upload = files(
                (f"c{c}.fits", image_fits(stacks[c])), (f"c{c}-extra.fits", image_fits(stacks[c][0]))
            )
            answer = await client.post("/classify", files=upload)
            assert answer.status_code == 200
            results = answer.json()["results"]
            names = [(r["file"], r["index"]) for r in results]
            assert names == [(f"c{c}.fits", k) for k in range(len(stacks[c]))] + [(f"c{c}-extra.fits", 0)]
            return [r["lens_probability"] for r in results]

        got = await asyncio.gather(*(one(c) for c in range(clients)))
    for c, scores in enumerate(got):
        expected = [*tiny_probability(stacks[c][:, None]), tiny_probability(stacks[c][:1, None])[0]]
        np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert sum(held.batches) == sum(len(s) + 1 for s in stacks)
    assert len(held.batches) < clients  # requests shared batches
    assert max(held.batches) <= 16


async def test_a_full_queue_answers_503_with_retry_after_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model(tmp_path, "space")
    held = HeldInference(monkeypatch)
    config = settings(tmp_path, max_batch=4, max_wait_ms=0, queue_limit=8, max_cutouts=8)
    async with running(config) as (application, client):
        held.hold()
        running_one = asyncio.ensure_future(
            client.post("/classify", files=files(("a.fits", image_fits(constant_stack([0.1] * 4)))))
        )
        await asyncio.to_thread(held.entered.wait, 10)  # 4 cutouts in a held batch
        queued = asyncio.ensure_future(
            client.post("/classify", files=files(("b.fits", image_fits(constant_stack([0.2] * 8)))))
        )
        batcher = application.state.service.runtimes["space"].batcher
        # b's first 4 go to the thread's queue behind the held batch (two batches are handed over at
        # once); its last 4 wait in the batcher's queue; 4 more fill it to its limit of 8
        while batcher.depth < 4:
            await asyncio.sleep(0.005)
        more = asyncio.ensure_future(
            client.post("/classify", files=files(("d.fits", image_fits(constant_stack([0.4] * 4)))))
        )
        while batcher.depth < 8:
            await asyncio.sleep(0.005)
        refused = await asyncio.wait_for(
            client.post("/classify", files=files(("c.fits", image_fits(constant_stack([0.3]))))), 5
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "queue_full"
        assert int(refused.headers["retry-after"]) >= 1
        held.release()
        assert (await running_one).status_code == 200
        assert (await queued).status_code == 200
        assert (await more).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert 'lensfinder_requests_total{model="space",outcome="queue_full"} 1.0' in metrics


async def test_scores_do_not_depend_on_the_batch_a_cutout_lands_in(tmp_path: Path) -> None:
    """Shipped space model: one stack (batches 16 + 8), singles in concurrent batches, singles alone, and
    both with two inference streams."""
    link_shipped(tmp_path, "space")
    stack = noise((24, SIZE, SIZE), seed=5)
    stack[:, 45:56, 45:56] += np.linspace(0, 8e-12, 24, dtype=np.float32)[:, None, None]
    singles = [image_fits(stack[i]) for i in range(24)]

    async def scores(client: httpx.AsyncClient, concurrent: bool) -> tuple[list[float], list[float]]:
        whole = await client.post("/classify", files=files(("s.fits", image_fits(stack))))
        posts = [client.post("/classify", files=files((f"{i}.fits", data))) for i, data in enumerate(singles)]
        answers = await asyncio.gather(*posts) if concurrent else [await p for p in posts]
        one_by_one = [a.json()["results"][0]["lens_probability"] for a in answers]
        return [r["lens_probability"] for r in whole.json()["results"]], one_by_one

    async with running(settings(tmp_path, max_batch=16, max_wait_ms=20)) as (_, client):
        in_stack, concurrent = await scores(client, concurrent=True)
    async with running(settings(tmp_path, batching=False)) as (_, client):
        unbatched_stack, alone = await scores(client, concurrent=False)
    several = settings(tmp_path, max_batch=16, max_wait_ms=20, streams=2, decode_threads=3)
    async with running(several) as (_, client):
        ready = (await client.get("/readyz")).json()
        two_streams_stack, two_streams = await scores(client, concurrent=True)  # batches side by side
    assert (ready["models"]["space"]["streams"], ready["models"]["space"]["threads"]) == (2, 1)
    assert ready["decode_threads"] == 3
    assert (
        in_stack == concurrent == unbatched_stack == alone == two_streams_stack == two_streams
    )  # bit for bit
    assert len(set(in_stack)) > 1


def second_handed_over(batcher: Any) -> bool:
    """Whether the batcher has handed a second batch to its inference thread (none left queued)."""
    return int(batcher.in_flight) >= 2


async def test_a_client_that_leaves_is_dropped_before_inference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny_model(tmp_path, "space")
    held = HeldInference(monkeypatch)
    async with running(settings(tmp_path, max_wait_ms=0)) as (application, client):
        held.hold()
        first = asyncio.ensure_future(
            client.post("/classify", files=files(("a.fits", image_fits(constant_stack([0.1])))))
        )
        await asyncio.to_thread(held.entered.wait, 10)
        batcher = application.state.service.runtimes["space"].batcher
        # a second batch is handed to the inference thread behind the held one (two at once); the
        # leaver's cutouts then wait in the batcher's queue
        second = asyncio.ensure_future(
            client.post("/classify", files=files(("s.fits", image_fits(constant_stack([0.3])))))
        )
        while batcher.depth or not second_handed_over(batcher):
            await asyncio.sleep(0.005)
        request = httpx.Request(
            "POST", "http://test/classify", files=files(("gone.fits", image_fits(constant_stack([0.5] * 3))))
        )
        body = request.read()
        messages: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
        leave = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await leave.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/classify",
            "raw_path": b"/classify",
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
            "client": ("test", 1),
            "server": ("test", 80),
        }
        call = asyncio.ensure_future(application(scope, receive, send))
        while batcher.depth < 3:  # the leaving request is queued behind the held batch
            await asyncio.sleep(0.005)
        leave.set()
        await asyncio.wait_for(call, 5)
        assert batcher.depth == 0
        held.release()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
        assert (
            await client.post("/classify", files=files(("b.fits", image_fits(constant_stack([0.2])))))
        ).status_code == 200
    assert held.batches == [1, 1, 1]  # first, second and last request: the leaver's 3 cutouts never ran
    assert sent[0]["status"] == 499


async def test_a_client_that_leaves_while_uploading_is_not_a_server_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tiny_model(tmp_path, "space")
    async with running(settings(tmp_path)) as (application, _):
        request = httpx.Request(
            "POST", "http://test/classify", files=files(("a.fits", image_fits(noise((SIZE, SIZE)))))
        )
        body = request.read()
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/classify",
            "query_string": b"",
            "headers": headers,
        }
        await application(scope | {"asgi": {"version": "3.0"}, "root_path": ""}, receive, send)
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
