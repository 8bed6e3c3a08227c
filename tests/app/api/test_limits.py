"""The request limits (bytes, files, cutouts, deadline) and the JSON 500 for the unexpected."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import app.scoring.classify as classify_module
from app.main import create_app
from tests.app.service_helpers import HeldInference, files, serving, settings, tiny_model, wait_ready
from tests.factories import image_fits

SIZE = 101
ONE = image_fits(np.zeros((SIZE, SIZE), np.float32))  # about 43 kB


@pytest.fixture
def models(tmp_path: Path) -> Path:
    tiny_model(tmp_path, "space")
    return tmp_path


def test_a_body_over_the_byte_limit_is_413_before_parsing(models: Path) -> None:
    with serving(settings(models, max_request_bytes=100_000)) as client:
        answer = client.post("/classify", files=files(("a.fits", ONE), ("b.fits", ONE), ("c.fits", ONE)))
        assert answer.status_code == 413
        body = answer.json()
        assert body["error"]["code"] == "request_too_large"
        assert (
            "100000 bytes" in body["error"]["message"]
            and "LENSFINDER_MAX_REQUEST_BYTES" in body["error"]["message"]
        )
        assert client.post("/classify", files=files(("a.fits", ONE))).status_code == 200


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(models: Path) -> None:
    boundary = "xyz"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.fits"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        yield part
        for _ in range(100):  # 100 x 10 kB, far past the 50 kB limit
            sent.append(1)
            yield b"\0" * 10_000
        yield f"\r\n--{boundary}--\r\n".encode()

    with serving(settings(models, max_request_bytes=50_000)) as client:
        answer = client.post(
            "/classify", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
        )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_too_large"


def test_too_many_files_is_413(models: Path) -> None:
    with serving(settings(models, max_files=3)) as client:
        answer = client.post("/classify", files=files(*[(f"{i}.fits", ONE) for i in range(4)]))
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_many_files"
        assert "LENSFINDER_MAX_FILES" in answer.json()["error"]["message"]
        assert (
            client.post("/classify", files=files(*[(f"{i}.fits", ONE) for i in range(3)])).status_code == 200
        )


def test_too_many_cutouts_is_413(models: Path) -> None:
    stack = image_fits(np.ones((6, SIZE, SIZE), np.float32))
    with serving(settings(models, max_cutouts=10, queue_limit=10)) as client:
        answer = client.post("/classify", files=files(("a.fits", stack), ("b.fits", stack)))
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "too_many_cutouts"
        assert "more than 10 cutouts" in answer.json()["error"]["message"]
        # one file over the limit alone is refused by the decoder's per-file limit, as an error item
        big = image_fits(np.ones((11, SIZE, SIZE), np.float32))
        answer = client.post("/classify", files=files(("big.fits", big), ("ok.fits", stack)))
        big_item = answer.json()["results"][0]
        assert big_item["error"]["code"] == "too_large" and "split the stack" in big_item["error"]["message"]


def test_a_request_past_its_deadline_is_504_and_leaves_the_queue(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldInference(monkeypatch)
    config = settings(models, request_deadline_s=0.3, max_wait_ms=0)
    with serving(config) as client:
        held.hold()
        first: list[int] = []
        blocker = threading.Thread(
            target=lambda: first.append(client.post("/classify", files=files(("a.fits", ONE))).status_code)
        )
        blocker.start()
        assert held.entered.wait(10)  # the first request holds the model
        answer = client.post("/classify", files=files(("late.fits", ONE)))  # waits in the queue
        assert answer.status_code == 504
        assert answer.json()["error"]["code"] == "deadline_exceeded"
        held.release()
        blocker.join(10)
        assert first == [504]  # the first one passed its deadline too, while held
        assert client.post("/classify", files=files(("next.fits", ONE))).status_code == 200
        assert held.batches == [1, 1]  # the first and the next: the late request never reached inference


def test_an_unexpected_error_is_a_json_500_without_traceback(
    models: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(classify_module, "prepare", broken)
    with TestClient(create_app(settings(models))) as client:
        wait_ready(client)
        answer = client.post("/classify", files=files(("a.fits", ONE)))
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {
            "code": "internal_error",
            "message": "an unexpected error; it was logged. Please report it.",
        }
    }
    assert any("a bug" in (r.exc_text or "") or "unexpected error" in r.getMessage() for r in caplog.records)
