"""/healthz, /readyz (503 until every model is warm, then the provider per model), /metrics, /docs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.inference.session import ModelSession
from app.main import create_app
from tests.app.service_helpers import files, serving, settings, tiny_model, wait_ready
from tests.factories import image_fits, noise


@pytest.fixture
def models(tmp_path: Path) -> Path:
    tiny_model(tmp_path, "space")
    tiny_model(tmp_path, "ground", bands=("u", "g", "r", "i"), accepts=("fits",), pixel_scale=0.2)
    return tmp_path


def test_readiness_is_503_until_every_model_is_warm(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    original = ModelSession.warm_up

    def slow_warm_up(session: ModelSession, repeats: int = 2) -> float:
        gate.wait(30)
        return original(session, repeats)

    monkeypatch.setattr(ModelSession, "warm_up", slow_warm_up)
    frozen: list[bool] = []  # freeze_long_lived called: was warm-up over?
    monkeypatch.setattr("app.service.freeze_long_lived", lambda: frozen.append(gate.is_set()) or 0)
    with TestClient(create_app(settings(models))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}  # alive while warming
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["status"] == "starting"
        assert answer.json()["models"]["space"]["warmed"] is False
        early = client.post("/classify", files=files(("a.fits", image_fits(noise((101, 101))))))
        assert early.status_code == 503 and early.json()["error"]["code"] == "not_ready"
        assert int(early.headers["retry-after"]) >= 1
        assert frozen == []
        gate.set()
        body = wait_ready(client)
    assert frozen == [True]  # once, when every model had warmed
    assert body["status"] == "ready" and body["error"] is None
    assert body["decode_threads"] == 1  # inference on the CPU: one decoding thread
    for name in ("space", "ground"):
        model = body["models"][name]
        assert model == {
            "version": "1.0.0",
            "provider": "CPUExecutionProvider",
            "batch_sizes": [1, 2, 4, 8, 16],  # on the CPU every power of two up to the max batch
            "warmed": True,
            "streams": 1,
            "threads": 1,
        }


def test_a_failed_warm_up_keeps_the_service_unready_and_says_why(
    models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: ModelSession, repeats: int = 2) -> float:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(ModelSession, "warm_up", broken)
    with TestClient(create_app(settings(models))) as client:
        for _ in range(200):
            answer = client.get("/readyz")
            if answer.json()["status"] == "failed":
                break
            threading.Event().wait(0.01)
        assert answer.status_code == 503
        assert "out of memory" in answer.json()["error"]


def test_metrics_count_requests_cutouts_errors_batches_and_providers(models: Path) -> None:
    with serving(settings(models)) as client:
        stack = image_fits(noise((3, 101, 101)))
        client.post("/classify", files=files(("s.fits", stack), ("bad.txt", b"junk")))
        client.post("/classify", files=files(("bad.txt", b"junk")))
        client.post("/classify?model=nope", files=files(("s.fits", stack)))
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("lensfinder_requests_total", model="space", outcome="partial") == 1
    assert value("lensfinder_requests_total", model="none", outcome="nothing_to_score") == 1
    assert value("lensfinder_requests_total", model="none", outcome="unknown_model") == 1
    assert value("lensfinder_cutouts_total", model="space", outcome="scored") == 3
    assert value("lensfinder_cutouts_total", model="space", outcome="failed") == 1
    assert value("lensfinder_errors_total", code="not_fits_or_png") == 2
    assert value("lensfinder_errors_total", code="unknown_model") == 1
    assert value("lensfinder_batch_size_count", model="space") >= 1
    assert value("lensfinder_batch_size_sum", model="space") == 3
    assert value("lensfinder_queue_wait_seconds_count", model="space") == 1
    assert value("lensfinder_inference_seconds_count", model="space") >= 1
    assert value("lensfinder_queue_depth", model="space") == 0
    assert value("lensfinder_queue_depth", model="ground") == 0
    info = dict(model="space", version="1.0.0", provider="CPUExecutionProvider")
    assert value("lensfinder_model_info", **info) == 1
    assert value("lensfinder_ready") == 1


def test_each_app_has_its_own_metrics(models: Path) -> None:
    first, second = create_app(settings(models)), create_app(settings(models))
    assert first.state.telemetry.registry is not second.state.telemetry.registry


def test_openapi_documents_the_upload_and_the_responses(models: Path) -> None:
    with serving(settings(models)) as client:
        spec = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    post = spec["paths"]["/classify"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["files"]["items"]["format"] == "binary"
    assert {p["name"] for p in post["parameters"]} == {"model", "threshold"}
    assert {"200", "404", "413", "422", "503", "504"} <= set(post["responses"])
    assert "examples" in spec["components"]["schemas"]["ClassifyResponse"]
    assert "/readyz" in spec["paths"] and "/metrics" in spec["paths"]
