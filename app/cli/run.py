"""A scoring run of the command line: find the sources, skip those already in the output, score the
rest (over HTTP, in this process, or on Dask), append rows chunk by chunk, finish the table, summarise.

The scorer is the caller's: :func:`run_classify` (the service over HTTP), :func:`run_score` (the
service's code in this process) and :func:`run_score_dask` each turn sources into chunks of rows; the
rest is :class:`Run`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.cli import table
from app.cli.summary import Summary
from app.client.discover import discover
from app.client.http import AsyncClient
from app.client.pipeline import Options, Pipeline
from app.client.rows import Row
from app.client.sources import Source
from app.cores import name_os_thread, usable_cores
from app.memory import keep_freed_memory


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What every scoring command shares: inputs, output, resume behaviour, progress bar."""

    paths: Sequence[str]
    out: Path
    overwrite: bool = False
    retry_errors: bool = False
    progress: bool | None = None  # None: when stderr is a terminal


class Run:
    """Prepares the output and the list of sources to score; :meth:`write` appends each chunk."""

    def __init__(self, spec: RunSpec) -> None:
        # a scoring run builds and frees a 10 MB stack per request (app/memory.py); set here rather than
        # for every command, so that `lensfinder serve` leaves it to the service's own setting
        keep_freed_memory()
        self.spec = spec
        table.output_format(spec.out)  # an unknown suffix fails before any work
        self.work = table.working_csv(spec.out)
        if spec.overwrite:
            for path in {self.work, spec.out}:
                path.unlink(missing_ok=True)
        table.reopen(spec.out)
        done = table.recover(self.work, retry_errors=spec.retry_errors)
        sources = discover(spec.paths)
        self.total = len(sources)
        self.todo: list[Source] = [source for source in sources if source.key not in done]
        self.skipped = self.total - len(self.todo)
        self.new_cutouts = 0
        self.started = time.perf_counter()
        show = sys.stderr.isatty() if spec.progress is None else spec.progress
        self.bar = tqdm(total=len(self.todo), unit="cutout", disable=not show, smoothing=0.1)
        self.appender = table.CsvAppender(self.work)

    def write(self, rows: Sequence[Row]) -> None:
        self.appender.write(rows)
        self.new_cutouts += len(rows)
        self.bar.update(len(rows))
        if self.bar.n > (self.bar.total or 0):  # files holding several cutouts: the total grows
            self.bar.total = self.bar.n
            self.bar.refresh()

    def finish(self) -> Summary:
        """Close the CSV, convert it to the output format, and summarise the whole table."""
        seconds = time.perf_counter() - self.started
        self.bar.close()
        self.appender.close()
        table.finish(self.spec.out)
        out = self.spec.out
        if table.output_format(out) == "csv":
            records = table.read_csv_records(out)
        else:
            records = table.table_records(table.read_table(out))
        summary = Summary.of(records)
        summary.new_cutouts, summary.seconds = self.new_cutouts, seconds
        return summary

    def abort(self) -> None:
        self.bar.close()
        self.appender.close()


def reading_workers(cores: int | None = None) -> int:
    """The default ``--workers``: 0 (a reading thread in the command's process) on a machine of 2 cores
    or fewer, else one process per core but one (the command's own process sends and writes), at
    most 4. Why a thread on 2 cores: a reading process costs a second interpreter's start-up and
    pickling every chunk across, which there come out of the cores the scorer needs (5,000 files on
    this project's 2-core machine: 945 cutouts/s read by a thread, 830 by one process)."""
    cores = cores or usable_cores()
    return 0 if cores <= 2 else min(4, cores - 1)


def make_executor(workers: int | None) -> Executor:
    """Where files are read: ``workers`` processes (spawned: safe beside threads), or for 0 one thread
    (reading holds the GIL: more threads would only contend for it); None: :func:`reading_workers`."""
    workers = reading_workers() if workers is None else workers
    if workers <= 0:
        return ThreadPoolExecutor(1, thread_name_prefix="read", initializer=name_os_thread)
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=keep_freed_memory
    )


async def _consume(chunks: AsyncIterator[list[Row]], run: Run) -> None:
    async for rows in chunks:
        run.write(rows)


def _drive(run: Run, score: Any) -> Summary:
    try:
        score()
    except BaseException:
        run.abort()
        raise
    return run.finish()


def run_classify(
    spec: RunSpec, url: str, options: Options, *, workers: int | None = None, wait_s: float = 60.0
) -> tuple[Run, Summary]:
    """``lensfinder classify``: score through the service at ``url``."""
    run = Run(spec)
    executor = make_executor(workers) if run.todo else None

    async def score() -> None:
        client = AsyncClient(
            url, concurrency=options.concurrency, request_cutouts=options.limits.max_cutouts,
            retry=options.retry, executor=executor,
        )  # fmt: skip
        async with client:
            if run.todo:
                await client.wait_ready(wait_s)
            pipeline = Pipeline(client.transport, options, executor)
            await _consume(pipeline.stream(run.todo), run)

    try:
        return run, _drive(run, lambda: asyncio.run(score()))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def run_score(
    spec: RunSpec, options: Options, settings: Mapping[str, Any], *, workers: int | None = None
) -> tuple[Run, Summary]:
    """``lensfinder score``: score with the service's code in this process (no server)."""
    run = Run(spec)
    if not run.todo:
        return run, run.finish()
    executor = make_executor(workers)

    def score() -> None:
        # here, not at the top: the service's code imports onnxruntime, which classify never needs
        from app.bulk.local import LocalService, local_settings

        with LocalService(local_settings(**settings)) as service:
            asyncio.run(_consume(Pipeline(service, options, executor).stream(run.todo), run))

    try:
        return run, _drive(run, score)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)


def run_score_dask(
    spec: RunSpec, options: Options, settings: Mapping[str, Any], address: str, *, partition: int = 1024
) -> tuple[Run, Summary]:
    """``lensfinder score --dask ADDRESS``: score on a Dask cluster (``local:N`` starts N local workers)."""
    try:
        from app.bulk.on_dask import dask_client, score_on_dask
    except ImportError as error:  # the optional extra is not installed
        raise ValueError(
            f"--dask needs Dask: pip install -e '.[distributed]' (or dask[distributed]) ({error})"
        ) from None

    run = Run(spec)
    if not run.todo:
        return run, run.finish()

    def score() -> None:
        with dask_client(address) as client:
            chunks = score_on_dask(run.todo, client, options=options, settings=settings, partition=partition)
            for rows in chunks:
                run.write(rows)

    return run, _drive(run, score)
