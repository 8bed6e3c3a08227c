"""The repository's own checks: ruff (lint, format) on everything, mypy --strict on app/ (pyproject)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "app", "training", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--check", "app", "training", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_app() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_never_imports_torch_or_training() -> None:
    """DESIGN section 1: app/ is the light runtime and never imports torch or training/."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "app").rglob("*.py")
        for line in path.read_text().splitlines()
        if line.lstrip().startswith(("import torch", "from torch", "import training", "from training"))
    ]
    assert offenders == []
