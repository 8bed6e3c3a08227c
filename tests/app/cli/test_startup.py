"""What ``lensfinder classify`` imports: astropy only where a file needs it.

Importing astropy.io.fits takes a fifth of a second and the model cards' pydantic models a tenth; a
run over single-cutout files with plain headers (a survey's cutout service, the BLF release) needs
neither, and its start-up is part of every run's wall time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.factories import image_fits

CHILD = """
import sys
from app.cli.main import build_parser
from app.client.pipeline import prepare_chunk
from app.client.pack import Limits
from app.client.sources import FileSource
from app.decode.limits import DEFAULT_LIMITS

plan = prepare_chunk([FileSource(p, p) for p in sys.argv[1:]], Limits(), DEFAULT_LIMITS, True, 1)
assert [c.id for c in plan.cutouts] == ["a", "b"], plan.cutouts
print(sorted({m.split(".")[0] for m in sys.modules} & {"astropy", "onnxruntime"}))
print(sorted(m for m in sys.modules if m in ("app.card", "app.config", "app.registry")))
"""


def test_reading_and_packing_plain_single_cutout_files_imports_no_astropy(tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.fits"
        pixels = np.random.default_rng(0).normal(size=(21, 21)).astype(np.float32)
        path.write_bytes(image_fits(pixels, {"OBJECT": name, "RA": 10.0, "DEC": -5.0, "PIXSCALE": 0.1}))
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *paths], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    heavy, app_modules = done.stdout.splitlines()
    assert heavy == "[]"
    assert app_modules == "[]"
