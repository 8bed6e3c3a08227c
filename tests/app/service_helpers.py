"""Helpers for the service tests: tiny ONNX models made in code, model folders, a served app.

A tiny model scores a cutout as ``sigmoid(scale * mean of its finite pixels, NaN counted as 0)``, so a
test knows every expected probability; the shipped ``space`` and ``ground`` models are linked in
where real scores matter.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import onnx
from fastapi.testclient import TestClient
from onnx import TensorProto, helper

from app.card import ModelCard, file_sha256
from app.config import Settings
from app.main import create_app
from tests.factories import card_data

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models"


def tiny_onnx(channels: int, size: int = 101, *, scale: float = 1.0, batch: str | int = "batch") -> bytes:
    """A graph ``cutouts`` [batch, C, size, size] -> ``logit``, ``probability`` [batch] (module doc)."""
    nodes = [
        helper.make_node("IsNaN", ["cutouts"], ["nan"]),
        helper.make_node("Where", ["nan", "zero", "cutouts"], ["filled"]),
        helper.make_node("ReduceMean", ["filled", "axes"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "scale"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3]),
        helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("cutouts", TensorProto.FLOAT, [batch, channels, size, size])],
        [
            helper.make_tensor_value_info("logit", TensorProto.FLOAT, [batch]),
            helper.make_tensor_value_info("probability", TensorProto.FLOAT, [batch]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tiny_probability(pixels: npt.ArrayLike, scale: float = 1.0) -> npt.NDArray[np.float32]:
    """What the tiny model gives for ``pixels`` (N, C, H, W), in float64 (compare within 1e-6)."""
    x = np.nan_to_num(np.asarray(pixels, dtype=np.float64), nan=0.0)
    mean = x.reshape(len(x), -1).mean(axis=1)
    return (1.0 / (1.0 + np.exp(-scale * mean))).astype(np.float32)


STRETCHES = {
    "png-gray": {"name": "gray-asinh", "parameters": {}, "description": "test"},
    "png-rgb": {"name": "lupton-rgb", "parameters": {}, "description": "test"},
}


def tiny_model(
    models_dir: Path,
    name: str,
    *,
    bands: Sequence[str] = ("vis",),
    accepts: Sequence[str] = ("fits", "png-gray"),
    size: int = 101,
    pixel_scale: float | None = 0.1,
    threshold: float = 0.5,
    scale: float = 1.0,
    onnx_bytes: bytes | None = None,
) -> Path:
    """``models_dir/name`` with a tiny model and a valid card for it."""
    folder = models_dir / name
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(onnx_bytes or tiny_onnx(len(bands), size, scale=scale))
    data: dict[str, Any] = card_data(plots={}, metrics=None)
    data["identity"].update(name=name, onnx_sha256=file_sha256(folder / "model.onnx"))
    pngs = [fmt for fmt in accepts if fmt.startswith("png")]
    data["input"].update(
        bands=list(bands),
        height=size,
        width=size,
        pixel_scale_arcsec=pixel_scale,
        accepts=list(accepts),
        stretch=STRETCHES[pngs[0]] if pngs else None,
    )
    data["output"]["threshold"] = threshold
    ModelCard.from_dict(data).write(folder / "model.json")
    return folder


def link_shipped(models_dir: Path, *names: str) -> None:
    """Link the shipped models ``names`` into ``models_dir`` (their cards and ONNX files, unchanged)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        (models_dir / name).symlink_to(SHIPPED / name, target_is_directory=True)


def settings(models_dir: Path, **overrides: Any) -> Settings:
    """Test settings: the CPU provider (no CUDA probing), small batches so warm-up is quick, and one
    inference stream of one thread whatever the machine's cores (the batching tests reason about one
    inference thread; tests/app/inference/test_pool.py and the streams test cover several)."""
    values: dict[str, Any] = {
        "models_dir": models_dir, "device": "cpu", "max_batch": 16, "streams": 1, "threads": 1,
    }  # fmt: skip
    return Settings(**(values | overrides))


def wait_ready(client: TestClient, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll /readyz until 200; its body."""
    end = time.monotonic() + timeout_s
    while True:
        answer = client.get("/readyz")
        if answer.status_code == 200:
            body: dict[str, Any] = answer.json()
            return body
        if time.monotonic() > end:
            raise AssertionError(f"not ready after {timeout_s} s: {answer.json()}")
        time.sleep(0.02)


@contextmanager
def serving(config: Settings) -> Iterator[TestClient]:
    """The app on ``config`` through its real lifespan, once ready."""
    with TestClient(create_app(config)) as client:
        wait_ready(client)
        yield client


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """httpx ``files=`` for parts named ``files``."""
    return [("files", (name, data, "application/octet-stream")) for name, data in items]


class HeldInference:
    """Replaces ``ModelSession.run`` so that a test can hold inference and see what reached it."""

    def __init__(self, monkeypatch: Any) -> None:
        import threading

        from app.inference.session import ModelSession

        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batches: list[int] = []
        original = ModelSession.run

        def run(session: ModelSession, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
            if not session.warmed:  # warm-up is never held
                return original(session, pixels)
            self.entered.set()
            self.gate.wait(30)
            self.batches.append(len(pixels))
            return original(session, pixels)

        monkeypatch.setattr(ModelSession, "run", run)

    def hold(self) -> None:
        self.gate.clear()
        self.entered.clear()

    def release(self) -> None:
        self.gate.set()


def cuda_available() -> bool:
    """Whether onnxruntime really runs a session on CUDA here (not only lists the provider)."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    session = ort.InferenceSession(
        tiny_onnx(1, 4), providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    return session.get_providers()[0] == "CUDAExecutionProvider"


def free_port() -> int:
    """A port the system had free a moment ago (another process may take it before a server binds it:
    :func:`start_server` retries then)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    command: Callable[[int], list[str]], env: Mapping[str, str], *, ready_s: float = 90, attempts: int = 3
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``command(port)`` (a server process, stderr piped) and wait until its /readyz answers 200:
    (the process, its URL). A server that exits because its port was taken between :func:`free_port`
    and its bind is started again on another port; any other exit fails the test with its stderr."""
    for attempt in range(attempts):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            command(port), cwd=ROOT, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        end = time.monotonic() + ready_s
        while process.poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                process.kill()
                process.wait()
                raise AssertionError(f"the service did not get ready in {ready_s:.0f} s")
            time.sleep(0.1)
        stderr = process.stderr.read().decode() if process.stderr else ""
        if "address already in use" not in stderr.lower() or attempt == attempts - 1:
            raise AssertionError(f"the service exited ({process.returncode}): {stderr}")
    raise AssertionError("unreachable")
