"""``lensfinder`` end to end against a real service (uvicorn on a free port, started by ``lensfinder
serve``): classify a BLF layout and plain folders into a complete table, resume after a kill without
duplicates, ``score`` without a server equals the service, ``models``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from app.card import ModelCard
from app.cli import main, table
from tests.app.pipeline_helpers import shipped_models
from tests.app.service_helpers import SHIPPED

FAST = ["--no-progress", "--workers", "0"]


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    status = main([str(a) for a in args])
    out = capsys.readouterr()
    assert status == 0, out.err
    return out.out


def records(path: Path) -> list[dict[str, str]]:
    return table.table_records(table.read_table(path))


def paths_of(inputs: dict[str, Path]) -> list[Path]:
    return [inputs["ground"], inputs["space"], inputs["plain"]]


@pytest.fixture(scope="module")
def full_run(
    service_url: str, inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, str]]:
    """One complete classify run (through a process pool reading the files), as CSV records."""
    out = tmp_path_factory.mktemp("full") / "results.csv"
    assert main(["classify", *map(str, paths_of(inputs)), "--url", service_url, "--out", str(out),
                 "--no-progress", "--workers", "1", "--request-cutouts", "4"]) == 0  # fmt: skip
    return table.read_csv_records(out)


def test_classify_gives_one_row_per_cutout(full_run: list[dict[str, str]], inputs: dict[str, Path]) -> None:
    files = Counter(r["file"] for r in full_run)
    assert len(full_run) == 6 + 5 + 3 + 3 + 1 + 1 and len(files) == 6 + 5 + 3 + 1 + 1 + 1
    ground = [r for r in full_run if "Band*" in r["file"]]
    assert [r["id"] for r in ground] == [str(100000 + k) for k in range(6)]
    assert {r["model"] for r in ground} == {"ground"} and all(not r["error"] for r in ground)
    plain = {Path(r["file"]).name: r for r in full_run if r["file"].startswith(str(inputs["plain"]))}
    assert plain["notes.fits"]["error"] == "not_fits_or_png" and plain["notes.fits"]["index"] == ""
    assert plain["gray.png"]["model"] == "space" and not plain["gray.png"]["error"]
    stack = [r for r in full_run if r["file"].endswith("stack3.fits")]
    assert [r["index"] for r in stack] == ["0", "1", "2"] and {r["id"] for r in stack} == {"stack"}
    assert plain["c1.fits"]["id"] == "obj1" and float(plain["c1.fits"]["ra"]) == 151.0
    scored = [r for r in full_run if not r["error"]]
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in scored) and len(scored) == len(full_run) - 1


def test_a_killed_run_resumes_without_duplicates(
    capsys: pytest.CaptureFixture[str], full_run: list[dict[str, str]], inputs: dict[str, Path],
    service_url: str, tmp_path: Path,
) -> None:  # fmt: skip
    full = table.HEADER + "".join(
        ",".join(f'"{v}"' if "," in v else v for v in (r[c] for c in table.COLUMNS)) + "\n" for r in full_run
    )
    for suffix in (".csv", ".fits"):
        out = tmp_path / f"results{suffix}"
        partial = table.working_csv(out)
        partial.write_text(full[: len(full) // 2])  # killed halfway, in the middle of a line
        printed = run(capsys, "classify", *paths_of(inputs), "--url", service_url, "--out", out, *FAST)
        assert "resumed:" in printed and "18 scored, 1 errors" in printed
        again = records(out)
        assert Counter((r["file"], r["index"]) for r in again) == Counter(
            (r["file"], r["index"]) for r in full_run
        )
        by_key = {(r["file"], r["index"]): r for r in again}
        for r in full_run:
            assert by_key[(r["file"], r["index"])]["probability"] == r["probability"]
        assert not partial.exists() or suffix == ".csv"


def test_score_without_a_server_equals_the_service(
    capsys: pytest.CaptureFixture[str], full_run: list[dict[str, str]], inputs: dict[str, Path],
    service_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("LENSFINDER_MAX_BATCH", "16")
    out = tmp_path / "scored.parquet"
    models = shipped_models(tmp_path)
    printed = run(
        capsys, "score", *paths_of(inputs), "--out", out, "--models-dir", models, "--device", "cpu", *FAST
    )
    ground = ModelCard.load(SHIPPED / "ground" / "model.json").identity.version
    assert f"ground {ground}" in printed and "errors: not_fits_or_png 1" in printed
    local = {(r["file"], r["index"]): r for r in records(out)}
    assert set(local) == {(r["file"], r["index"]) for r in full_run}
    for r in full_run:
        if not r["error"]:
            assert float(local[(r["file"], r["index"])]["probability"]) == pytest.approx(
                float(r["probability"]), abs=1e-6
            )
    # and both equal the service scoring the original files, uploaded as they are (no stacking)
    originals = sorted(p for p in (inputs["space"] / "Public" / "Band1").iterdir()) + sorted(
        p for p in inputs["plain"].iterdir() if p.name != "notes.fits"
    )
    upload = [("files", (str(p), p.read_bytes(), "application/octet-stream")) for p in originals]
    answer = httpx.post(f"{service_url}/classify", files=upload, params={"model": "space"}, timeout=60).json()
    compared = 0
    for item in answer["results"]:
        if "lens_probability" in item:
            key = (item["file"], str(item["index"]))
            assert float(local[key]["probability"]) == pytest.approx(item["lens_probability"], abs=1e-6)
            assert local[key]["id"] == (item["id"] or local[key]["id"])
            compared += 1
    assert compared == 5 + 3 + 3 + 1  # space files, c0..c2, the stack's three, the PNG


def test_models_lists_the_cards(capsys: pytest.CaptureFixture[str], service_url: str, tmp_path: Path) -> None:
    remote = run(capsys, "models", "--url", service_url)
    local = run(capsys, "models", "--models-dir", shipped_models(tmp_path))
    assert remote == local and "ground" in local and "u,g,r,i" in local and "space" in local


def test_the_console_script_and_usage_errors(tmp_path: Path) -> None:
    script = shutil.which("lensfinder", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the lensfinder console script is not installed here (pip install -e .)")
    done = subprocess.run([script, "models", "--models-dir", str(shipped_models(tmp_path))],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and "space" in done.stdout
    command = [script, "classify", str(tmp_path / "absent"), "--out", str(tmp_path / "r.csv")]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no such file or folder" in bad.stderr


def test_an_unreachable_service_stops_the_run_with_status_1(
    capsys: pytest.CaptureFixture[str], inputs: dict[str, Path], tmp_path: Path
) -> None:
    status = main(["classify", str(inputs["space"]), "--url", "http://127.0.0.1:9", "--wait", "0.5",
                   "--out", str(tmp_path / "r.csv"), *FAST])  # fmt: skip
    assert status == 1 and "not ready" in capsys.readouterr().err
    assert table.read_csv_records(tmp_path / "r.csv") == []  # a header, ready for the rerun
