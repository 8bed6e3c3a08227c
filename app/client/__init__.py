"""The Python client of the lensfinder service, and the reading and packing it shares with
``lensfinder score`` and the Dask workers (:mod:`app.bulk`).

>>> from app.client import Client
>>> with Client("http://localhost:8000") as lf:      # doctest: +SKIP
...     rows = lf.classify(["cutout.fits", "stack.fits"])
"""

from app.client.discover import discover
from app.client.http import AsyncClient, Client
from app.client.rows import Row
from app.client.sources import ArraySource, BandGroup, FileSource, Source
from app.client.transport import RetryPolicy, ServiceUnreachable

__all__ = [
    "ArraySource",
    "AsyncClient",
    "BandGroup",
    "Client",
    "FileSource",
    "RetryPolicy",
    "Row",
    "ServiceUnreachable",
    "Source",
    "discover",
]
