"""The results table: written in chunks as a run goes, resumable after a kill, converted at the end.

Columns, one row per cutout (:class:`~app.client.rows.Row`): ``file`` (the source's key), ``index``,
``id``, ``ra``, ``dec`` (ICRS degrees), ``probability``, ``is_lens``, ``model``, ``model_version``,
``threshold``, ``warnings`` (codes joined by ``;``), ``error`` (a stable code, empty when scored) and
``error_message``.

Writing and resuming (the design):
- Rows are appended to a CSV file, one chunk (a few hundred cutouts) per ``write`` call, flushed and
  fsynced, so a kill at any moment leaves a readable file whose only possible damage is at its end.
  With ``--out results.csv`` that file is the output; for ``.fits``, ``.vot`` and ``.parquet`` it is
  ``<out>.partial.csv``, converted (through astropy tables) into the output when the run completes,
  then removed.
- Resuming (:func:`recover`): an incomplete last line is cut off, and so are all the rows of the last
  source in the file (a kill mid-chunk may have cut a multi-cutout file short; it is scored again).
  Every other source in the file is done and skipped, so a rerun finishes the table without
  duplicates. A finished non-CSV output is turned back into a working CSV when a rerun finds sources
  it lacks. ``retry_errors`` also drops (and so re-scores) the sources that failed for a passing
  reason (:data:`TRANSIENT`), e.g. ``queue_full`` after every retry.
- In CSV an absent value is an empty cell. The typed formats have no empty cells: absent ``ra``,
  ``dec``, ``probability`` and ``threshold`` are NaN, an absent ``index`` is -1, absent strings are
  empty, and ``is_lens`` is False on an error row.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.client.rows import Row

if TYPE_CHECKING:  # astropy.table takes a third of a second to import: only the typed formats need it
    from astropy.table import Table

COLUMNS = (
    "file", "index", "id", "ra", "dec", "probability", "is_lens", "model", "model_version", "threshold",
    "warnings", "error", "error_message",
)  # fmt: skip
HEADER = ",".join(COLUMNS) + "\n"
FORMATS = {".csv": "csv", ".fits": "fits", ".fit": "fits", ".vot": "votable", ".xml": "votable",
           ".votable": "votable", ".parquet": "parquet"}  # fmt: skip
#: Error codes that say nothing about the cutout: ``--retry-errors`` scores their sources again.
TRANSIENT = frozenset(
    {"queue_full", "not_ready", "shutting_down", "deadline_exceeded", "internal_error", "missing_result",
     "unreadable_file", "http_502", "http_503", "http_504"}
)  # fmt: skip
_FLOATS = ("ra", "dec", "probability", "threshold")
_STRINGS = ("file", "id", "model", "model_version", "warnings", "error", "error_message")


class TableError(ValueError):
    """An output file that this command cannot append to or read; the message says why."""


def output_format(path: Path) -> str:
    """The astropy format name for ``path``'s suffix; TableError for an unknown one."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise TableError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def working_csv(out: Path) -> Path:
    """Where rows are appended during a run: the output itself for CSV, else ``<out>.partial.csv``."""
    return out if output_format(out) == "csv" else out.with_name(out.name + ".partial.csv")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return " ".join(str(value).split())  # one line per row: no newlines or tabs inside a cell


def row_cells(row: Row) -> list[str]:
    values = [row.file, row.index, row.id, row.ra, row.dec, row.probability, row.is_lens, row.model,
              row.model_version, row.threshold, ";".join(row.warnings), row.error,
              row.error_message]  # fmt: skip
    return [_cell(v) for v in values]


class CsvAppender:
    """Appends chunks of rows to ``path`` (header first when the file is new or empty)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close())
        if self._file.tell() == 0:
            self._write(HEADER)

    def _write(self, text: str) -> None:
        self._file.write(text)
        self._file.flush()
        os.fsync(self._file.fileno())

    def write(self, rows: Sequence[Row]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(row_cells(row) for row in rows)
        self._write(buffer.getvalue())

    def close(self) -> None:
        self._file.close()


def _lines(path: Path) -> tuple[list[bytes], int]:
    """The complete lines of ``path`` (an incomplete last line is cut from the file) and its header."""
    data = path.read_bytes()
    if not data:
        return [], 0
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
        data = data[:end]
    lines = data.splitlines(keepends=True)
    if not lines:
        return [], 0
    if lines[0].decode("utf-8", "replace") != HEADER:
        raise TableError(
            f"{path}: its header is not a lensfinder results table's ({HEADER.strip()}); "
            "choose another --out or pass --overwrite"
        )
    return lines[1:], len(lines[0])


def _parse(line: bytes) -> list[str]:
    return next(csv.reader([line.decode("utf-8")]))


def recover(path: Path, *, retry_errors: bool = False) -> set[str]:
    """Repair ``path`` after an interruption (module docstring); the keys of the sources it holds."""
    if not path.exists():
        return set()
    lines, header_size = _lines(path)
    if not lines:
        return set()
    cells = [_parse(line) for line in lines]
    last = cells[-1][0]
    keep = len(cells)
    while keep and cells[keep - 1][0] == last:
        keep -= 1
    dropped = {last}
    if retry_errors:
        dropped |= {c[0] for c in cells[:keep] if c[COLUMNS.index("error")] in TRANSIENT}
    kept = [(line, c) for line, c in zip(lines[:keep], cells[:keep], strict=True) if c[0] not in dropped]
    if len(kept) == keep:
        with open(path, "r+b") as handle:
            handle.truncate(header_size + sum(len(line) for line in lines[:keep]))
    else:
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(HEADER.encode() + b"".join(line for line, _ in kept))
        os.replace(temporary, path)
    return {c[0] for _, c in kept}


def read_csv_records(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def records_table(records: Sequence[dict[str, str]]) -> Table:
    """A typed astropy table of CSV records (module docstring for absent values)."""
    from astropy.table import Table

    columns: dict[str, object] = {}
    for name in COLUMNS:
        values = [r.get(name, "") for r in records]
        if name in _FLOATS:
            columns[name] = np.array([float(v) if v else np.nan for v in values], dtype=np.float64)
        elif name == "index":
            columns[name] = np.array([int(v) if v else -1 for v in values], dtype=np.int64)
        elif name == "is_lens":
            columns[name] = np.array([v == "True" for v in values], dtype=bool)
        else:
            width = max([1, *(len(v) for v in values)])
            columns[name] = np.array(values, dtype=f"U{width}")
    return Table(columns, names=COLUMNS)


def table_records(table: Table) -> list[dict[str, str]]:
    """CSV records of a typed table (the inverse of :func:`records_table`)."""
    out = []
    for row in table:
        record: dict[str, str] = {}
        for name in COLUMNS:
            value = row[name]
            if name in _FLOATS:
                record[name] = "" if not np.isfinite(value) else repr(float(value))
            elif name == "index":
                record[name] = "" if int(value) < 0 else str(int(value))
            elif name == "is_lens":
                record[name] = "" if str(row["error"]).strip() else str(bool(value))
            else:
                record[name] = str(value).strip()
        out.append(record)
    return out


def _read_parquet(path: Path) -> Table:
    # astropy reads Parquet only with pandas installed; pyarrow alone is enough here.
    import pyarrow.parquet as pq
    from astropy.table import Table

    data = pq.read_table(path, columns=list(COLUMNS)).to_pydict()
    columns = {}
    for name in COLUMNS:
        values = data[name]
        columns[name] = np.ma.MaskedArray(np.array(values, dtype=object), mask=[v is None for v in values])
    return Table(columns)


def read_table(path: Path) -> Table:
    """A results table in any of the output formats, typed, with no masked values (empty strings are
    read back as masked by some formats: they become empty strings again)."""
    from astropy.table import Table

    fmt = output_format(path)
    if fmt == "csv":
        return records_table(read_csv_records(path))
    read = _read_parquet(path) if fmt == "parquet" else Table.read(path, format=fmt)
    columns = {}
    for name in COLUMNS:
        column = read[name]
        data, mask = np.ma.getdata(column).tolist(), np.ma.getmaskarray(column).tolist()
        if name in _STRINGS:
            values = ["" if m or v is None else (v.decode() if isinstance(v, bytes) else str(v)).strip()
                      for v, m in zip(data, mask, strict=True)]  # fmt: skip
            columns[name] = np.array(values, dtype=f"U{max([1, *map(len, values)])}")
        else:
            columns[name] = np.array(data, dtype=records_table([]).dtype[name])
    return Table(columns, names=COLUMNS)


def write_records_csv(path: Path, records: Iterable[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def finish(out: Path) -> None:
    """Convert the working CSV into ``out`` (for non-CSV outputs), atomically, and remove the CSV."""
    fmt = output_format(out)
    work = working_csv(out)
    if fmt == "csv" or not work.exists():
        return
    table = records_table(read_csv_records(work))
    temporary = out.with_name(out.name + ".tmp")
    table.write(temporary, format=fmt, overwrite=True)
    os.replace(temporary, out)
    work.unlink()


def reopen(out: Path) -> None:
    """Before a rerun: a finished non-CSV output becomes the working CSV again (if there is none)."""
    work = working_csv(out)
    if work == out or work.exists() or not out.exists():
        return
    write_records_csv(work, table_records(read_table(out)))
