"""The normalisation of app/preprocess.py as a torch module, so it is the first layer of every model.

It is trained with the network and exported inside the ONNX graph: any ONNX runtime (onnxruntime,
Triton) then scores raw cutouts, in any linear flux unit, with masked pixels as NaN, exactly as the
service does. ``app.preprocess.normalise`` is the numpy reference this module is tested against
(tests/training/test_normalise.py); the recipe is documented there. Per cutout and per plane, with
statistics on the finite pixels of the stride-2 grid: subtract the median, divide by 1.4826 x MAD (else
the standard deviation, else the peak deviation over the plane, else 1; with no finite grid pixel, no
centring and the peak |value|) times SOFTENING, take asinh, and set masked pixels to 0.

Medians come from the lower half of each row by ``torch.topk`` (exported as ONNX TopK; a full sort
costs 1.5x more in onnxruntime), masked pixels sorted to the end as +inf, and are exact: the mean of
the two middle values for an even count, as numpy's.
"""

from __future__ import annotations

import torch
from torch import nn

from app.preprocess import MAD_TO_SIGMA, SOFTENING, STAT_STRIDE


def _finite_median(values: torch.Tensor, finite: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Median over the last axis of ``values`` (R, P) restricted to ``finite``; (R, 1). Rows without
    finite values give +inf (callers replace them)."""
    filled = torch.where(finite, values, torch.full_like(values, float("inf")))
    k = values.shape[-1] // 2 + 1  # the middle of any count of finite values lies at or below P // 2
    ordered, _ = torch.topk(filled, k, dim=-1, largest=False, sorted=True)
    last = torch.clamp(count - 1, min=0)
    lower = torch.gather(ordered, -1, torch.div(last, 2, rounding_mode="floor"))
    middle = torch.div(count, 2, rounding_mode="floor").clamp(max=k - 1)
    upper = torch.gather(ordered, -1, middle)
    return (lower + upper) * 0.5


class Normalise(nn.Module):
    """(N, C, H, W) float32 raw pixels, NaN = masked -> (N, C, H, W) float32 network input, no NaN."""

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        n, c, h, w = pixels.shape
        grid = pixels[:, :, ::STAT_STRIDE, ::STAT_STRIDE].reshape(n * c, -1)
        finite = torch.isfinite(grid)
        count = finite.sum(dim=-1, keepdim=True)
        centre = _finite_median(grid, finite, count)
        centre = torch.where(count > 0, centre, torch.zeros_like(centre))
        centred = torch.where(finite, grid - centre, torch.zeros_like(grid))
        mad = _finite_median(centred.abs(), finite, count) * MAD_TO_SIGMA
        safe_count = torch.clamp(count, min=1).to(grid.dtype)
        mean = centred.sum(dim=-1, keepdim=True) / safe_count
        spread = torch.where(finite, centred - mean, torch.zeros_like(grid))
        std = torch.sqrt((spread * spread).sum(dim=-1, keepdim=True) / safe_count)
        ones = torch.ones_like(std)
        x = pixels.reshape(n * c, h * w)
        deviation = torch.where(torch.isfinite(x), (x - centre).abs(), torch.zeros_like(x))
        peak = deviation.amax(dim=-1, keepdim=True)
        fallback = torch.where(peak > 0, peak, ones)
        grid_sigma = torch.where(mad > 0, mad, torch.where(std > 0, std, fallback))
        sigma = torch.where(count > 0, grid_sigma, fallback)
        out = torch.asinh((x - centre) / (sigma * SOFTENING))
        return torch.where(torch.isfinite(x), out, torch.zeros_like(out)).reshape(n, c, h, w)
