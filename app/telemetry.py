"""The service's Prometheus metrics, on a registry of its own (one per app, so tests may build many).

Names and labels (units in the names: seconds, cutouts):
- ``lensfinder_requests_total{model, outcome}``: /classify requests; ``model`` is ``none`` when no
  model was chosen; ``outcome`` is ``scored`` (every cutout scored), ``partial`` (some per-item errors),
  or the error code of a request answered with an error (``nothing_to_score``, ``queue_full``, ...).
- ``lensfinder_cutouts_total{model, outcome}``: result items, ``scored`` or ``failed``.
- ``lensfinder_errors_total{code}``: every error code given, per item or per request.
- ``lensfinder_warnings_total{model, code}``: warnings on scored cutouts (/classify and /explain), by
  code: the decoder's (``cropped``, ``bands_assumed``, ...) and the out-of-distribution checks'
  (``noise_level_unusual``, ``saturated``, ..., app/ood/check.py).
- ``lensfinder_explanations_total{model, method, outcome}``: /explain requests; ``outcome`` as for
  requests (``scored``, ``partial`` or an error code).
- ``lensfinder_batch_size{model}``: cutouts per inference batch (before padding).
- ``lensfinder_queue_wait_seconds{model}``: from a request's submit to its first batch.
- ``lensfinder_inference_seconds{model}``: wall time of one batch in the inference thread.
- ``lensfinder_queue_depth{model}``: cutouts waiting for a batch, read at scrape time.
- ``lensfinder_model_info{model, version, provider}``: 1 per loaded model (the active provider).
- ``lensfinder_requests_in_progress``: /classify and /explain requests read and not yet answered.
- ``lensfinder_ready``: 1 once every model is loaded and warmed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# The *_created series (a timestamp per label set) double the exposition for no use here.
disable_created_metrics()  # type: ignore[no-untyped-call]

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
WAIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INFERENCE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Telemetry:
    """The metrics of one service instance; ``registry`` is what ``GET /metrics`` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lensfinder_requests", "Classify requests by model and outcome", ["model", "outcome"], registry=r
        )
        self.cutouts = Counter(
            "lensfinder_cutouts", "Result items by model and outcome", ["model", "outcome"], registry=r
        )
        self.errors = Counter(
            "lensfinder_errors", "Error codes given, per item or request", ["code"], registry=r
        )
        self.warnings = Counter(
            "lensfinder_warnings", "Warnings on scored cutouts, by code", ["model", "code"], registry=r
        )
        self.explanations = Counter(
            "lensfinder_explanations",
            "Explain requests by model, method and outcome",
            ["model", "method", "outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            "lensfinder_batch_size",
            "Cutouts per inference batch",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "lensfinder_queue_wait_seconds",
            "Seconds from submit to a request's first batch",
            ["model"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "lensfinder_inference_seconds",
            "Seconds of one inference batch",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "lensfinder_queue_depth", "Cutouts waiting for a batch", ["model"], registry=r
        )
        self.model_info = Gauge(
            "lensfinder_model_info",
            "Loaded models and their provider",
            ["model", "version", "provider"],
            registry=r,
        )
        self.in_progress = Gauge(
            "lensfinder_requests_in_progress",
            "Classify and explain requests read and not yet answered",
            registry=r,
        )
        self.ready = Gauge("lensfinder_ready", "1 once every model is loaded and warmed", registry=r)

    def add_model(self, name: str, version: str, provider: str, depth: Callable[[], int]) -> None:
        self.model_info.labels(model=name, version=version, provider=provider).set(1)
        self.queue_depth.labels(model=name).set_function(lambda: float(depth()))

    def observer(self, model: str) -> BatchMetrics:
        return BatchMetrics(self, model)

    def request(self, model: str | None, outcome: str) -> None:
        self.requests.labels(model=model or "none", outcome=outcome).inc()

    def items(self, model: str | None, scored: int, failed: int) -> None:
        name = model or "none"
        if scored:
            self.cutouts.labels(model=name, outcome="scored").inc(scored)
        if failed:
            self.cutouts.labels(model=name, outcome="failed").inc(failed)

    def error(self, code: str, count: int = 1) -> None:
        self.errors.labels(code=code).inc(count)

    def warnings_of(self, model: str | None, codes: Iterable[str]) -> None:
        """Count warning ``codes`` (one per warning given) of the request's ``model``."""
        counts: dict[str, int] = {}
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
        for code, count in counts.items():
            self.warnings.labels(model=model or "none", code=code).inc(count)

    def explanation(self, model: str | None, method: str, outcome: str) -> None:
        self.explanations.labels(model=model or "none", method=method, outcome=outcome).inc()


class BatchMetrics:
    """The batcher's observer for one model (app.inference.batcher.BatchObserver)."""

    def __init__(self, telemetry: Telemetry, model: str) -> None:
        self._size = telemetry.batch_size.labels(model=model)
        self._wait = telemetry.queue_wait.labels(model=model)
        self._inference = telemetry.inference.labels(model=model)

    def batch_done(self, size: int, queue_waits_s: Sequence[float], inference_s: float) -> None:
        self._size.observe(size)
        for wait in queue_waits_s:
            self._wait.observe(wait)
        self._inference.observe(inference_s)
