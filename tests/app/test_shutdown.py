"""Graceful shutdown under load with a real uvicorn process: SIGTERM loses no accepted request."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.app.service_helpers import files, link_shipped, start_server
from tests.factories import image_fits, noise

CLIENTS = 16
STACK = 3  # CLIENTS x STACK < MAX_BATCH: no batch fills, so every request waits in the queue for MAX_WAIT_MS
MAX_BATCH = 64
# Long enough that all CLIENTS requests are read and queued before the first batch may leave, on any
# machine: the requests are certainly in flight at SIGTERM, however fast inference is (an earlier
# version relied on 800 cutouts taking "a second or more", and a fast CI machine answered them all
# before the signal).
MAX_WAIT_MS = 5000


def in_progress(base: str) -> int:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    line = next(line for line in text.splitlines() if line.startswith("lensfinder_requests_in_progress "))
    return int(float(line.split()[1]))


def refuses_connections(base: str, timeout_s: float = 10) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
        except httpx.ConnectError:
            return True
        time.sleep(0.05)
    return False


def test_sigterm_during_a_burst_answers_every_accepted_request(tmp_path: Path) -> None:
    models = tmp_path / "models"
    link_shipped(models, "space")
    env = os.environ | {
        "LENSFINDER_MODELS_DIR": str(models),
        "LENSFINDER_DEVICE": "cpu",
        "LENSFINDER_MAX_BATCH": str(MAX_BATCH),
        "LENSFINDER_MAX_WAIT_MS": str(MAX_WAIT_MS),
    }

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]

    process, base = start_server(command, env, ready_s=60)
    try:
        upload = files(("stack.fits", image_fits(noise((STACK, 101, 101)))))
        outcomes: list[tuple[str, float]] = []
        lock = threading.Lock()

        def client() -> None:
            try:
                answer = httpx.post(f"{base}/classify", files=upload, timeout=120)
                outcome = f"{answer.status_code}:{len(answer.json().get('results', []))}"
            except httpx.TransportError as error:
                outcome = type(error).__name__
            with lock:
                outcomes.append((outcome, time.monotonic()))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        # every request read by the service and waiting in the batcher's queue
        while len(outcomes) + in_progress(base) < CLIENTS:
            time.sleep(0.02)
        answered_before = len(outcomes)
        sigterm = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert refuses_connections(base)  # no new connection is accepted while draining
        for thread in threads:
            thread.join(120)
        code = process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = process.stderr.read().decode() if process.stderr else ""
    assert [outcome for outcome, _ in outcomes] == [f"200:{STACK}"] * CLIENTS, log
    after = sum(1 for _, when in outcomes if when > sigterm)
    assert answered_before == 0 and after == CLIENTS  # all were in flight at SIGTERM, and all were answered
    # uvicorn finishes its graceful shutdown, then re-raises the signal it caught (exit status 143)
    assert code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert "all batchers drained" in log
