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


# Modules of optional extras, imported only where their feature is used (and turned into a clear error
# when missing): module -> the extra that installs it.
OPTIONAL_MODULES = {"distributed": "distributed", "pyarrow": "parquet"}


def test_app_imports_only_declared_runtime_dependencies() -> None:
    """``pip install -e .`` must run the service and the command line: every third-party module app/
    imports is installed by a runtime dependency of pyproject.toml (or is an optional extra's)."""
    import ast
    import tomllib
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement

    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {Requirement(r).name.lower().replace("_", "-") for r in runtime}
    owners = packages_distributions()
    missing = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("app", "__future__") or top in OPTIONAL_MODULES:
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                # starlette, anyio and python-multipart come with fastapi and uvicorn[standard]
                if not dists & (declared | {"starlette", "anyio", "python-multipart"}):
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert sorted(missing) == []
