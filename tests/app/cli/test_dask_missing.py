"""``lensfinder score --dask`` without the optional Dask extra: a clear message and exit status 1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from app.cli.main import main
from tests.factories import image_fits, noise


def test_score_dask_without_dask_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(sys.modules, "app.bulk.on_dask", raising=False)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    cutout = tmp_path / "c.fits"
    cutout.write_bytes(image_fits(noise((101, 101))))
    status = main(["score", str(cutout), "--out", str(tmp_path / "out.csv"), "--dask", "local:2"])
    assert status == 1
    assert "pip install -e '.[distributed]'" in capsys.readouterr().err
