"""Scoring without the HTTP service: in this process (:mod:`app.bulk.local`) or on a Dask cluster
(:mod:`app.bulk.on_dask`), through the same pipeline and the same service code as ``POST /classify``."""
