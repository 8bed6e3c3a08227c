"""Helpers for the client, command-line, bulk and gallery tests: input folders made in code, and the
service in a real uvicorn process on a free port (for what needs a URL: the blocking client and the
command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tests.app.service_helpers import link_shipped, start_server
from tests.factories import image_fits, noise, png_bytes
from tests.training.blf_factory import make_blf

SIZE = 101


def vis_image(seed: int) -> np.ndarray:
    """Noise with a bright centre, in BLF-like units (sigma 1e-12)."""
    image = noise((SIZE, SIZE), seed=seed)
    image[45:56, 45:56] += (2 + seed % 5) * 1e-12
    return image


def vis_fits(seed: int, **cards: Any) -> bytes:
    return image_fits(vis_image(seed), cards or None)


def write_inputs(root: Path) -> dict[str, Path]:
    """A BLF ground set (6 IDs), a BLF space set (5 files), and a plain folder with 2-D FITS files
    carrying OBJECT/RA/DEC, a stack of 3, a grayscale PNG and a file that is not a cutout."""
    ground, space, plain = root / "ground", root / "space", root / "plain"
    make_blf(ground, "ground", n=6, seed=1)
    make_blf(space, "space", n=5, seed=2)
    plain.mkdir(parents=True)
    for k in range(3):
        cards = {"OBJECT": f"obj{k}", "RA": 150.0 + k, "DEC": 2.0 - k}
        (plain / f"c{k}.fits").write_bytes(vis_fits(k, **cards))
    stack = np.stack([vis_image(10 + k) for k in range(3)])
    (plain / "stack3.fits").write_bytes(image_fits(stack, {"OBJECT": "stack"}))
    levels = (np.clip(vis_image(20) / 1e-11, 0, 1) * 255).astype(np.uint8)
    (plain / "gray.png").write_bytes(png_bytes(levels))
    (plain / "notes.fits").write_bytes(b"not a FITS file at all")
    return {"ground": ground, "space": space, "plain": plain}


@contextmanager
def live_service(models_dir: Path, **env: str) -> Iterator[str]:
    """``lensfinder serve`` on a free port serving ``models_dir``; yields its URL once ready."""
    full_env = (
        os.environ
        | {
            "LENSFINDER_MODELS_DIR": str(models_dir),
            "LENSFINDER_DEVICE": "cpu",
            "LENSFINDER_MAX_BATCH": "16",
            "LENSFINDER_LOG_LEVEL": "warning",
        }
        | env
    )

    # through the command line's ``serve`` (uvicorn app.main:app), so that command is tested too
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning"]  # fmt: skip

    process, url = start_server(command, full_env)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shipped_models(tmp: Path) -> Path:
    models = tmp / "models"
    link_shipped(models, "space", "ground")
    return models
