"""What every benchmark reports the same way: the median of repeated runs, and a JSON file of results
(DESIGN section 8)."""

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


def median_run(
    runs: list[dict[str, Any]], key: str, kept: tuple[str, ...], under: str = "runs"
) -> dict[str, Any]:
    """The run of the median ``key`` (the lower middle one of an even count), with every run's ``kept``
    values, in the order they ran, under ``under``: a shared machine's speed drifts by a few per cent
    from minute to minute, so one run can land on either side of a target."""
    middle = sorted(runs, key=lambda run: run[key])[(len(runs) - 1) // 2]
    return middle | {under: [{name: run[name] for name in kept} for run in runs]}
