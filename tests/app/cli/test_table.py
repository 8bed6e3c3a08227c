"""The results table: chunked CSV appends, recovery after a kill, typed formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.cli import table
from app.client.rows import Row


def row(file: str, index: int | None = 0, error: str | None = None, p: float | None = 0.5) -> Row:
    return Row(file=file, index=index, id=f"id-{file}", ra=10.5, dec=-2.25, probability=None if error else p,
               is_lens=None if error else p is not None and p > 0.9, model="space", model_version="1.1.0",
               threshold=0.9, warnings=("cropped", "bad_wcs") if file == "b" else (), error=error,
               error_message=None if error is None else "why,\nwith a comma and a newline")  # fmt: skip


def write(path: Path, *chunks: list[Row]) -> None:
    appender = table.CsvAppender(path)
    for chunk in chunks:
        appender.write(chunk)
    appender.close()


def keys(path: Path) -> list[tuple[str, str]]:
    return [(r["file"], r["index"]) for r in table.read_csv_records(path)]


def test_chunks_append_one_line_per_row_and_read_back_typed(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write(out, [row("a"), row("b", p=0.95)], [row("c", None, error="not_fits_or_png")])
    lines = out.read_text().splitlines()
    assert lines[0] == table.HEADER.strip() and len(lines) == 4
    typed = table.read_table(out)
    assert list(typed["file"]) == ["a", "b", "c"] and list(typed["index"]) == [0, 0, -1]
    assert list(typed["is_lens"]) == [False, True, False] and np.isnan(typed["probability"][2])
    assert (
        typed["warnings"][1] == "cropped;bad_wcs"
        and typed["error_message"][2] == "why, with a comma and a newline"
    )


def test_recover_cuts_a_partial_line_and_the_last_source(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write(out, [row("a"), row("s", 0), row("s", 1), row("s", 2)])
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 7])  # killed while writing the last line of stack "s"
    assert table.recover(out) == {"a"}
    assert keys(out) == [("a", "0")]
    write(out, [row("s", 0), row("s", 1), row("s", 2)])
    assert keys(out) == [("a", "0"), ("s", "0"), ("s", "1"), ("s", "2")]


def test_recover_of_a_complete_table_redoes_only_its_last_source(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write(out, [row("a"), row("b")])
    assert table.recover(out) == {"a"}
    assert table.recover(tmp_path / "absent.csv") == set()


def test_retry_errors_drops_sources_that_failed_for_a_passing_reason(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    write(out, [row("a", error="queue_full"), row("b", error="not_fits_or_png"), row("c"), row("d")])
    assert table.recover(out, retry_errors=True) == {"b", "c"}
    assert keys(out) == [("b", "0"), ("c", "0")]


def test_a_foreign_csv_is_not_appended_to(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    out.write_text("ID,is_lens\n1,0\n")
    with pytest.raises(table.TableError, match="header"):
        table.recover(out)


@pytest.mark.parametrize("suffix", [".fits", ".vot", ".parquet"])
def test_typed_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"r{suffix}"
    work = table.working_csv(out)
    assert work.name == f"r{suffix}.partial.csv"
    write(work, [row("a"), row("b", p=0.95), row("c", None, error="all_nan")])
    expected = table.read_csv_records(work)
    table.finish(out)
    assert out.exists() and not work.exists()
    assert table.table_records(table.read_table(out)) == expected
    table.reopen(out)  # a rerun appends to a working CSV made from the finished output
    assert table.read_csv_records(work) == expected


def test_unknown_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(table.TableError, match="unknown output format"):
        table.output_format(tmp_path / "r.txt")
