"""Where each benchmark's results go: a JSON file (DESIGN section 8), written the same way by all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` (its folder made if needed); nothing when ``path`` is None. Values
    JSON has no type for (paths, numpy scalars) are written as their ``str``."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
