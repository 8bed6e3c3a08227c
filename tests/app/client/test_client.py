"""The Python client against the real app (httpx's ASGI transport, the app's own lifespan): stacks,
input order, per-item errors kept, header values carried, retries on 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.client import AsyncClient, Client, RetryPolicy, discover
from app.client.pack import Part
from app.client.transport import Refusal, send_with_retry
from app.main import create_app
from tests.app.pipeline_helpers import vis_image
from tests.app.service_helpers import settings, tiny_model, tiny_probability
from tests.factories import image_fits, noise

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@asynccontextmanager
async def app_client(models_dir: Path, **options: Any) -> AsyncIterator[AsyncClient]:
    """An AsyncClient of the app on ``models_dir`` through httpx's ASGI transport, once ready."""
    app = create_app(settings(models_dir))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lensfinder.test", timeout=60
        ) as http:
            client = AsyncClient(http=http, retry=FAST_RETRY, **options)
            await client.wait_ready(60, poll_s=0.02)
            yield client


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    tiny_model(models, "space", scale=1e11)
    tiny_model(models, "ground", bands=("u", "g", "r", "i"), accepts=("fits",), pixel_scale=0.2, scale=1e11)
    return models


def test_rows_in_input_order_with_errors_kept_and_header_values_carried(
    tmp_path: Path, tiny_models: Path
) -> None:
    files = []
    for k in range(5):
        path = tmp_path / f"v{k}.fits"
        path.write_bytes(image_fits(vis_image(k), {"OBJECT": f"id{k}", "RA": 10.0 + k, "DEC": -5.0 + k}))
        files.append(path)
    bad = tmp_path / "bad.fits"
    bad.write_bytes(b"hello")
    stack = tmp_path / "stack.fits"
    planes = np.stack([vis_image(7), np.full((101, 101), np.nan, dtype=np.float32), vis_image(8)])
    stack.write_bytes(image_fits(planes, {"OBJECT": "stk"}))
    array = vis_image(9)
    items: list[Any] = [files[0], bad, files[1], stack, array, *files[2:]]

    async def go() -> list[Any]:
        async with app_client(tiny_models, request_cutouts=2, concurrency=3) as client:
            return await client.classify(items)

    rows = asyncio.run(go())
    assert [(r.file, r.index) for r in rows] == [
        (str(files[0]), 0), (str(bad), None), (str(files[1]), 0),
        (str(stack), 0), (str(stack), 1), (str(stack), 2), ("array[0]", 0),
        (str(files[2]), 0), (str(files[3]), 0), (str(files[4]), 0),
    ]  # fmt: skip
    by_key = {(r.file, r.index): r for r in rows}
    assert by_key[(str(bad), None)].error == "not_fits_or_png"
    assert by_key[(str(stack), 1)].error == "all_nan"
    for k, path in enumerate(files):
        row = by_key[(str(path), 0)]
        assert (row.id, row.ra, row.dec, row.model) == (f"id{k}", 10.0 + k, -5.0 + k, "space")
        assert row.probability == pytest.approx(
            float(tiny_probability(vis_image(k)[None, None], 1e11)[0]), abs=1e-6
        )
    assert by_key[(str(stack), 2)].id == "stk"
    expected = tiny_probability(array[None, None], 1e11)[0]
    assert by_key[("array[0]", 0)].probability == pytest.approx(float(expected), abs=1e-6)


def test_a_ground_band_group_and_space_files_in_one_call(inputs: dict[str, Path], tiny_models: Path) -> None:
    sources = discover([inputs["ground"], inputs["space"]])

    async def go() -> list[Any]:
        async with app_client(tiny_models) as client:
            return await client.classify(sources)

    rows = asyncio.run(go())
    assert len(rows) == 6 + 5 and all(r.ok for r in rows)
    assert [r.model for r in rows] == ["ground"] * 6 + ["space"] * 5
    assert [r.id for r in rows[:6]] == [str(100000 + k) for k in range(6)]
    assert rows[0].ra == pytest.approx(150.0) and rows[0].dec == pytest.approx(2.0)
    assert rows[0].file.endswith("Public/Band*/imageSDSS_*-100000.fits")


def test_a_named_model_refusing_files_gives_error_rows(inputs: dict[str, Path], tiny_models: Path) -> None:
    sources = discover([inputs["space"]])

    async def go() -> list[Any]:
        async with app_client(tiny_models) as client:
            return await client.classify(sources, model="ground", threshold=0.25)

    rows = asyncio.run(go())
    assert len(rows) == 5 and {r.error for r in rows} == {"band_mismatch"}


class Flaky:
    """A transport answering 503 ``queue_full`` (Retry-After 0) ``fails`` times, then a real answer."""

    def __init__(self, fails: int, answer: Any) -> None:
        self.fails, self.answer, self.calls = fails, answer, 0

    async def send(self, parts: Any, model: Any, threshold: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fails:
            return Refusal(503, "queue_full", "full", [], 0.0)
        return self.answer


def test_send_with_retry_retries_503_then_gives_the_last_refusal() -> None:
    parts = [Part("a.fits", b"")]
    flaky = Flaky(2, "scored")
    assert asyncio.run(send_with_retry(flaky, parts, None, None, FAST_RETRY)) == "scored"
    assert flaky.calls == 3
    hopeless = Flaky(99, "never")
    reply = asyncio.run(send_with_retry(hopeless, parts, None, None, FAST_RETRY))
    assert isinstance(reply, Refusal) and reply.code == "queue_full" and hopeless.calls == FAST_RETRY.attempts


def test_retry_after_is_honoured_over_http(tmp_path: Path) -> None:
    """A stub service: 503 with Retry-After twice, then the real answer; the client waits and retries."""
    calls: list[float] = []
    result = {"file": "stack0.fits", "index": 0, "id": None, "ra": None, "dec": None,
              "lens_probability": 0.75, "is_lens": True,
              "warnings": [{"code": "cropped", "message": "m"}]}  # fmt: skip
    answer = {"model": {"name": "space", "version": "1", "threshold": 0.5}, "results": [result]}

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(asyncio.get_event_loop().time())
        if len(calls) <= 2:
            return httpx.Response(
                503, headers={"Retry-After": "0.2"}, json={"error": {"code": "queue_full", "message": "full"}}
            )
        return httpx.Response(200, json=answer)

    path = tmp_path / "one.fits"
    path.write_bytes(image_fits(noise((101, 101))))

    async def go() -> list[Any]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://stub")
        async with AsyncClient(http=http, retry=RetryPolicy(attempts=5, base_s=0.01, max_s=1.0)) as client:
            rows = await client.classify([path])
        await http.aclose()
        return rows

    (row,) = asyncio.run(go())
    assert len(calls) == 3 and calls[1] - calls[0] >= 0.19 and calls[2] - calls[1] >= 0.19
    assert row.probability == 0.75 and row.is_lens and row.warnings == ("cropped",)


def test_a_refused_request_keeps_every_cutout_as_an_error_row(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503, headers={"Retry-After": "0"}, json={"error": {"code": "queue_full", "message": "full"}}
        )

    paths = []
    for k in range(3):
        paths.append(tmp_path / f"{k}.fits")
        paths[-1].write_bytes(image_fits(noise((101, 101), seed=k)))

    async def go() -> list[Any]:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://stub")
        async with AsyncClient(http=http, retry=FAST_RETRY) as client:
            return await client.classify(paths)

    rows = asyncio.run(go())
    assert [(r.file, r.error) for r in rows] == [(str(p), "queue_full") for p in paths]


def test_blocking_client_against_a_real_server(service_url: str, inputs: dict[str, Path]) -> None:
    with Client(service_url) as client:
        assert client.ready().status == "ready"
        assert sorted(card.name for card in client.models()) == ["ground", "space"]
        rows = client.classify(sorted((inputs["plain"]).glob("c*.fits")))
    assert [r.id for r in rows] == ["obj0", "obj1", "obj2"] and all(r.ok for r in rows)
    assert all(0.0 <= (r.probability or -1) <= 1.0 for r in rows)


def test_files_are_read_as_the_named_model_takes_them(tiny_models: Path, tmp_path: Path) -> None:
    # a cube of four unnamed planes is four one-band cutouts to a service choosing the model, and one
    # four-band cutout to a four-band model: the client reads it as the service will, sent as it is
    cube = tmp_path / "cube.fits"
    cube.write_bytes(image_fits(noise((4, 101, 101), seed=3)))

    async def go(model: str | None) -> list[Any]:
        async with app_client(tiny_models) as client:
            return await client.classify([str(cube)], model=model)

    (row,) = asyncio.run(go("ground"))
    assert row.error is None and row.model == "ground" and row.index == 0
    rows = asyncio.run(go(None))
    assert len(rows) == 4 and [r.index for r in rows] == [0, 1, 2, 3] and {r.error for r in rows} == {None}


def test_a_model_the_service_lacks_gives_unknown_model_rows(tiny_models: Path, tmp_path: Path) -> None:
    stack = tmp_path / "stack.fits"
    stack.write_bytes(image_fits(noise((3, 101, 101), seed=4)))

    async def go() -> list[Any]:
        async with app_client(tiny_models) as client:
            assert await client.transport.bands("nope") is None
            assert await client.transport.bands("ground") == ("u", "g", "r", "i")
            return await client.classify([str(stack)], model="nope")

    rows = asyncio.run(go())
    assert [r.index for r in rows] == [0, 1, 2] and {r.error for r in rows} == {"unknown_model"}
