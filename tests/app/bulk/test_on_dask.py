"""Bulk scoring on Dask: ``lensfinder score --dask local:2`` (a LocalCluster of two worker processes,
one thread each) gives the service's scores, in input order."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main, table
from app.client import Client, discover
from tests.app.pipeline_helpers import shipped_models

pytest.importorskip("distributed", reason="the distributed extra is not installed")


def test_two_workers_give_the_services_scores(
    service_url: str, inputs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [inputs["ground"], inputs["space"], inputs["plain"]]
    with Client(service_url) as client:
        expected = client.classify(discover(paths))
    monkeypatch.setenv("LENSFINDER_MAX_BATCH", "16")  # the workers inherit the environment
    out = tmp_path / "dask.csv"
    status = main(["score", *map(str, paths), "--out", str(out), "--dask", "local:2", "--partition", "4",
                   "--models-dir", str(shipped_models(tmp_path)), "--device", "cpu", "--threads", "1",
                   "--no-progress"])  # fmt: skip
    assert status == 0
    rows = table.read_csv_records(out)
    assert [(r["file"], r["index"], r["id"], r["error"]) for r in rows] == [
        (e.file, "" if e.index is None else str(e.index), e.id or "", e.error or "") for e in expected
    ]
    for got, want in zip(rows, expected, strict=True):
        if want.ok:
            assert float(got["probability"]) == pytest.approx(want.probability, abs=1e-6)
            assert (got["model"], got["model_version"], got["is_lens"]) == (
                want.model,
                want.model_version,
                str(want.is_lens),
            )
