"""The normalisation of app/preprocess.py as a torch module, so it is the first layer of every model.

It is trained with the network and exported inside the ONNX graph: any ONNX runtime (onnxruntime,
Triton) then scores raw cutouts, in any linear flux unit, with masked pixels as NaN, exactly as the
service does. ``app.preprocess.normalise`` is the numpy reference this module is tested against
(tests/training/test_normalise.py); the recipe is documented there. Per cutout and per plane, on the
finite pixels: subtract the median, divide by 1.4826 x MAD (else the standard deviation, else 1) times
SOFTENING, take asinh, and set masked pixels to 0.

Medians are computed by sorting (exported as ONNX TopK) with masked pixels sorted to the end as +inf,
and are exact: the mean of the two middle values for an even count, as numpy's.
"""

from __future__ import annotations

import torch
from torch import nn

from app.preprocess import MAD_TO_SIGMA, SOFTENING


def _finite_median(values: torch.Tensor, finite: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Median over the last axis of ``values`` (R, P) restricted to ``finite``; (R, 1). Rows without
    finite values give +inf (callers replace them)."""
    filled = torch.where(finite, values, torch.full_like(values, float("inf")))
    ordered, _ = torch.sort(filled, dim=-1)
    last = torch.clamp(count - 1, min=0)
    lower = torch.gather(ordered, -1, torch.div(last, 2, rounding_mode="floor"))
    middle = torch.div(count, 2, rounding_mode="floor").clamp(max=values.shape[-1] - 1)
    upper = torch.gather(ordered, -1, middle)
    return (lower + upper) * 0.5


class Normalise(nn.Module):
    """(N, C, H, W) float32 raw pixels, NaN = masked -> (N, C, H, W) float32 network input, no NaN."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        n, c, h, w = pixels.shape
        x = pixels.reshape(n * c, h * w)
        finite = torch.isfinite(x)
        count = finite.sum(dim=-1, keepdim=True)
        centre = _finite_median(x, finite, count)
        centred = torch.where(finite, x - centre, torch.zeros_like(x))
        mad = _finite_median(centred.abs(), finite, count) * MAD_TO_SIGMA
        safe_count = torch.clamp(count, min=1).to(x.dtype)
        mean = centred.sum(dim=-1, keepdim=True) / safe_count
        spread = torch.where(finite, centred - mean, torch.zeros_like(x))
        std = torch.sqrt((spread * spread).sum(dim=-1, keepdim=True) / safe_count)
        ones = torch.ones_like(std)
        sigma = torch.where(mad > 0, mad, torch.where(std > 0, std, ones))
        sigma = torch.where(count > 0, sigma, ones)
        out = torch.asinh(centred / (sigma * SOFTENING))
        return torch.where(finite, out, torch.zeros_like(out)).reshape(n, c, h, w)
