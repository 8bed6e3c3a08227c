"""A lens finder in torch: the normalisation layer then a network, and rebuilding one from a run.

``LensFinder(net)`` takes raw pixels float32 (N, C, 101, 101) in any linear flux unit (or PNG levels),
axis order (N, C, H, W), planes in the model's band order (vis; u, g, r, i; or R, G, B = i, r, g),
masked pixels NaN, and returns one logit per cutout, shape (N,): the log-odds that a visible strong lens
is in the cutout (under the balanced training batches' 50/50 prior until calibrated). Because
``Normalise`` comes first, the same cutout in any flux unit gives the same logit, and the ONNX export
of the whole module carries the preprocessing inside the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from training.nets import build_net
from training.normalise import Normalise

BEST = "best.pt"


class LensFinder(nn.Module):
    """``Normalise()`` then ``net``: raw (N, C, 101, 101) pixels, NaN = masked -> logits (N,)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.normalise = Normalise()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(self.normalise(x))
        return logits.reshape(-1)


def build_model(config: dict[str, Any]) -> LensFinder:
    """The (untrained) LensFinder a resolved training config describes; the number of input planes is
    ``config["resolved"]["in_channels"]`` (filled in by training from the data)."""
    in_channels = int(config["resolved"]["in_channels"])
    net = build_net(
        config["arch"], in_channels, width=config["width"], depth=config["depth"], dropout=config["dropout"]
    )
    return LensFinder(net)


def load_run(run_dir: str | Path, checkpoint: str = BEST) -> tuple[LensFinder, dict[str, Any]]:
    """(model in eval mode on the CPU, resolved config) from a training run directory's ``best.pt``
    (or another checkpoint file name in it)."""
    state = torch.load(Path(run_dir) / checkpoint, map_location="cpu", weights_only=False)
    config: dict[str, Any] = state["config"]
    model = build_model(config)
    model.load_state_dict(state["state_dict"])
    model.eval()
    return model, config
