"""One onnxruntime session per model, run at a few fixed (padded) batch sizes.

The graph takes the card's ``output.input_name`` tensor, float32 (batch, C, H, W) of raw pixels with
NaN for masked ones, and gives ``probability`` (batch,). A batch of n cutouts runs at the smallest
padded size >= n (:func:`padded_sizes`): the pad rows are zeros and their scores are dropped. On a GPU
the sizes are 1, 8, 32 and the max batch (a kernel costs about the same for 9 rows as for 32, so
padding is free and few shapes are warmed); on the CPU, where a row costs the same in any batch,
they are the powers of two up to the max batch, and the batcher forms batches of exactly these sizes
(app/inference/batcher.py), so that no padded row is ever computed. Every row of the graph is
computed independently of the others (the normalisation is per cutout and per plane), so a cutout's
score does not depend on the batch it lands in; tests check this bit for bit on the CPU provider.
Fixed sizes let every shape the service will run be warmed before it reports ready (the first run of
a shape allocates memory and, on CUDA, picks convolution algorithms).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.card import ONNX_FILE, ModelCard
from app.inference.providers import CPU, ProviderPlan

log = logging.getLogger("lensfinder")

OUTPUT: Final = "probability"
STANDARD_SIZES: Final = (1, 8, 32)


class ModelLoadError(RuntimeError):
    """A model's ONNX file cannot be loaded or does not match its card; the message names the file."""


def padded_sizes(max_batch: int, *, cpu: bool = False) -> tuple[int, ...]:
    """The batch sizes a session runs: 1, 8, 32 (on the CPU: every power of two) below
    ``max_batch``, and ``max_batch`` itself."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be positive, got {max_batch}")
    ladder = [1 << k for k in range(max_batch.bit_length())] if cpu else STANDARD_SIZES
    return tuple(sorted({size for size in ladder if size < max_batch} | {max_batch}))


class ModelSession:
    """An onnxruntime session of one model (its card says the tensor names and the input shape)."""

    def __init__(
        self, directory: Path, card: ModelCard, plan: ProviderPlan, *, max_batch: int, threads: int = 0
    ) -> None:
        self.name = card.name
        self.shape = (len(card.input.bands), card.input.height, card.input.width)
        self.input_name = card.output.input_name
        path = directory / ONNX_FILE
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=plan.providers())
        except Exception as error:  # onnxruntime raises its own types, not one base class
            raise ModelLoadError(f"{path}: onnxruntime cannot load it: {error}") from None
        self._check_graph(path, max_batch)
        self.provider = plan.check(self._session.get_providers(), f"model {self.name} ({path})")
        self.sizes = padded_sizes(max_batch, cpu=self.provider == CPU)
        self.warmed = False

    def _check_graph(self, path: Path, max_batch: int) -> None:
        inputs = {tensor.name: tensor for tensor in self._session.get_inputs()}
        outputs = [tensor.name for tensor in self._session.get_outputs()]
        if self.input_name not in inputs or OUTPUT not in outputs:
            raise ModelLoadError(
                f"{path}: the card names input {self.input_name!r} and output {OUTPUT!r}; the graph has "
                f"inputs {sorted(inputs)} and outputs {outputs}"
            )
        declared = list(inputs[self.input_name].shape)
        fixed = [d if isinstance(d, int) else None for d in declared[1:]]
        if len(declared) != 4 or any(
            d is not None and d != s for d, s in zip(fixed, self.shape, strict=True)
        ):
            raise ModelLoadError(
                f"{path}: input {self.input_name!r} is {declared}; the card says "
                f"[batch, {', '.join(map(str, self.shape))}]"
            )
        if isinstance(declared[0], int) and (declared[0] != 1 or max_batch != 1):
            raise ModelLoadError(f"{path}: the batch axis of {self.input_name!r} is fixed at {declared[0]}")

    @property
    def max_batch(self) -> int:
        return self.sizes[-1]

    def size_for(self, n: int) -> int:
        """The padded batch size that ``n`` cutouts run at."""
        for size in self.sizes:
            if size >= n:
                return size
        raise ValueError(f"{n} cutouts exceed the max batch {self.max_batch}")

    def run(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Probabilities (n,) of ``pixels`` (n, C, H, W) float32, 1 <= n <= max batch. Blocking:
        call it from a worker thread, never on the event loop."""
        n = pixels.shape[0]
        size = self.size_for(n)
        if size != n:
            padded = np.zeros((size, *self.shape), dtype=np.float32)
            padded[:n] = pixels
            pixels = padded
        (scores,) = self._session.run([OUTPUT], {self.input_name: np.ascontiguousarray(pixels)})
        return np.asarray(scores, dtype=np.float32).reshape(size)[:n].copy()

    def warm_up(self, repeats: int = 2) -> float:
        """Run every padded size ``repeats`` times; returns the seconds it took. Blocking."""
        start = time.perf_counter()
        for size in self.sizes:
            batch = np.zeros((size, *self.shape), dtype=np.float32)
            for _ in range(repeats):
                self.run(batch)
        self.warmed = True
        return time.perf_counter() - start
