"""Bulk scoring on a Dask distributed cluster: the same model, preprocessing and scores as the service.

The sources (paths, not pixels: the workers read the files, so they must see the same file system,
as on an HPC cluster's shared disk or a science platform's home and project space) are cut into
partitions; each partition is one task, :func:`score_partition`. Each worker process opens one
:class:`~app.bulk.local.LocalService` the first time it scores (the service's own sessions and
batchers, on the worker's GPU where onnxruntime's CUDA provider works) and keeps it for every later
partition, like an actor; a partition is read, packed and scored by the same pipeline as the HTTP
client and ``lensfinder score``. Results come back in input order, partition by partition, with at
most ``window`` partitions submitted ahead, so a billion-cutout run holds little in memory.

>>> from distributed import Client                               # doctest: +SKIP
>>> from app.bulk.on_dask import score_on_dask
>>> with Client("tcp://scheduler:8786") as dask:                 # doctest: +SKIP
...     for rows in score_on_dask(sources, dask, settings={"device": "auto"}):
...         write(rows)
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from distributed import Client, Future, LocalCluster

from app.bulk.local import LocalService, local_settings
from app.client.pipeline import Options, Pipeline, chunked
from app.client.rows import Row
from app.client.sources import Source, with_absolute_paths

_SERVICES: dict[str, LocalService] = {}
_LOCK = threading.Lock()


def worker_service(settings: Mapping[str, Any]) -> LocalService:
    """This process's scorer for ``settings`` (``LENSFINDER_*`` overrides), opened once and kept."""
    key = json.dumps(dict(settings), sort_keys=True, default=str)
    with _LOCK:
        service = _SERVICES.get(key)
        if service is None:
            service = _SERVICES[key] = LocalService(local_settings(**settings))
        return service


def score_partition(sources: Sequence[Source], options: Options, settings: Mapping[str, Any]) -> list[Row]:
    """The task: one row per cutout of ``sources``, in order, scored by this worker's service."""
    service = worker_service(settings)
    return asyncio.run(Pipeline(service, options).score(sources))


def score_on_dask(
    sources: Sequence[Source],
    client: Client,
    *,
    options: Options | None = None,
    settings: Mapping[str, Any] | None = None,
    partition: int = 1024,
    window: int | None = None,
) -> Iterator[list[Row]]:
    """Score ``sources`` on the cluster of ``client``; yields each partition's rows in input order.

    ``settings`` are the service settings each worker uses (``models_dir``, ``device``, ``threads``,
    ...; unset ones come from the worker's ``LENSFINDER_*`` environment); ``partition`` sources per
    task; ``window`` tasks submitted ahead (default: twice the workers' threads).
    """
    options = options or Options()
    settings = dict(settings or {})
    if window is None:
        threads = sum(client.nthreads().values()) or 1  # type: ignore[no-untyped-call]
        window = 2 * threads
    pending: deque[Future[list[Row]]] = deque()
    parts = chunked((with_absolute_paths(source) for source in sources), partition)
    try:
        for part in parts:
            pending.append(client.submit(score_partition, part, options, settings, pure=False))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()  # type: ignore[no-untyped-call]


@contextmanager
def dask_client(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address`` (``tcp://host:8786``, or a scheduler file's path), or of
    a new local cluster for ``local`` / ``local:N`` (N worker processes of one thread; default 2)."""
    if address == "local" or address.startswith("local:"):
        workers = int(address.partition(":")[2] or 2)
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        try:
            with Client(cluster) as client:  # type: ignore[no-untyped-call]
                yield client
        finally:
            cluster.close()
        return
    if address.endswith(".json"):
        with Client(scheduler_file=address) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with Client(address) as client:  # type: ignore[no-untyped-call]
        yield client
