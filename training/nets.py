"""The lens-finder networks: from the classic ladder (perceptron, MLPs) to three compact CNNs.

Every network built by :func:`build_net` maps the *normalised* cutouts float32 (N, C, 101, 101) (the
output of ``training.normalise.Normalise``; axis order (N, C, H, W), bands in the data set's plane order,
u, g, r, i / vis, or R, G, B for colour composites) to one logit per cutout, shape (N,): the log-odds
that a visible strong lens is in the cutout. ``training.model.LensFinder`` puts ``Normalise`` in front.

Architectures (``ARCHS``):

- ``logistic``: logistic regression on the pixels (a perceptron with a sigmoid read-out).
- ``mlp1`` / ``mlp2``: fully connected networks with one / two hidden layers of ``4 * width`` ReLU units.
- ``cnn``: compact baseline: a 5x5 stride-2 stem, three stages of ``depth`` 3x3 conv/BN/ReLU blocks
  (the first of each stage strided), widths ``width * (1, 2, 4)``, global average pooling.
- ``deeplens``: CMU DeepLens (Lanusse et al. 2018, MNRAS 473, 3895): pre-activation bottleneck residual
  units (BN-ELU-conv1x1, BN-ELU-conv3x3, BN-ELU-conv1x1, identity or 1x1 projection shortcut) with ELU,
  scaled for 101x101: a 5x5 stride-2 stem, three stages of ``depth`` units with outputs
  ``width * (2, 4, 8)`` (bottlenecks a quarter of that), each stage starting with a stride-2 unit.
- ``schaefer``: the baseline style of Schaefer et al. 2018 (A&A 611, A2): 8 conv layers in four pairs of
  3x3 conv/BN/ReLU, each pair followed by 2x2 max pooling, then fully connected layers; scaled down (a
  stride-2 first convolution, widths ``width * (1, 2, 4, 8) / 2``). ``depth`` convs per pair (2 = 8 conv).

All use only ops that export to ONNX opset 17 (conv, BN, ReLU/ELU, max pool, mean, linear, flatten).

Cost: :func:`count_flops` returns floating-point operations per cutout as counted by
``torch.utils.flop_counter.FlopCounterMode``: 2 x multiply-adds of the convolutions and matrix products
(BN, activations and pooling are not counted; they are a few percent of the total).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

Arch = Literal["logistic", "mlp1", "mlp2", "cnn", "deeplens", "schaefer"]
ARCHS: tuple[str, ...] = get_args(Arch)
CNN_ARCHS: tuple[str, ...] = ("cnn", "deeplens", "schaefer")
SIZE = 101  # cutout side in pixels; the fully connected nets need it to size their first layer


class _Head(nn.Module):
    """Global average pooling, dropout, one linear unit: (N, F, H, W) features -> (N,) logits."""

    def __init__(self, features: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(x.mean(dim=(2, 3)))).reshape(-1)


class _Flat(nn.Module):
    """A fully connected network on the flattened pixels; ``hidden`` empty gives logistic regression."""

    def __init__(self, in_features: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).reshape(-1)


def _conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CompactCNN(nn.Module):
    """The ``cnn`` baseline (see the module docstring)."""

    def __init__(self, in_channels: int, width: int, depth: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(in_channels, width, k=5, stride=2)]  # 101 -> 51
        cin = width
        for mult in (1, 2, 4):  # 51 -> 26 -> 13 -> 7
            cout = width * mult
            for block in range(depth):
                layers.append(_conv_bn_relu(cin, cout, stride=2 if block == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers)
        self.head = _Head(cin, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class PreActBottleneck(nn.Module):
    """DeepLens' pre-activation bottleneck residual unit (He et al. 2016 v2 ordering, ELU)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = max(cout // 4, 1)
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, mid, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(mid), nn.Conv2d(mid, mid, 3, stride, padding=1, bias=False)
        self.bn3, self.conv3 = nn.BatchNorm2d(mid), nn.Conv2d(mid, cout, 1, bias=False)
        self.act = nn.ELU(inplace=False)  # inplace would overwrite the pre-activation the shortcut reads
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.act(self.bn2(out)))
        out = self.conv3(self.act(self.bn3(out)))
        return out + skip


class DeepLens(nn.Module):
    """The ``deeplens`` residual network (see the module docstring)."""

    def __init__(self, in_channels: int, width: int, depth: int, dropout: float) -> None:
        super().__init__()
        units: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 5, stride=2, padding=2, bias=False),  # 101 -> 51
            nn.BatchNorm2d(width),
            nn.ELU(),
        ]
        cin = width
        for mult in (2, 4, 8):  # 51 -> 26 -> 13 -> 7
            cout = width * mult
            for unit in range(depth):
                units.append(PreActBottleneck(cin, cout, stride=2 if unit == 0 else 1))
                cin = cout
        units += [nn.BatchNorm2d(cin), nn.ELU()]  # the final activation of a pre-activation network
        self.features = nn.Sequential(*units)
        self.head = _Head(cin, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Schaefer(nn.Module):
    """The ``schaefer`` conv + fully connected baseline (see the module docstring)."""

    def __init__(self, in_channels: int, width: int, depth: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        side = SIZE
        for stage, mult in enumerate((1, 2, 4, 8)):
            cout = max(width * mult // 2, 4)
            for conv in range(depth):
                stride = 2 if stage == 0 and conv == 0 else 1  # 101 -> 51: keeps it under budget
                layers.append(_conv_bn_relu(cin, cout, stride=stride))
                if stride == 2:
                    side = (side + 1) // 2
                cin = cout
            layers.append(nn.MaxPool2d(2))  # 51 -> 25 -> 12 -> 6 -> 3
            side //= 2
        self.features = nn.Sequential(*layers)
        hidden = 4 * width
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out.reshape(-1)


def build_net(
    arch: str, in_channels: int, *, width: int = 32, depth: int = 2, dropout: float = 0.0
) -> nn.Module:
    """The network ``arch`` (one of ``ARCHS``) for ``in_channels`` planes of 101x101 normalised pixels.

    ``width``: base channel count of the CNNs (hidden units are ``4 * width`` for the MLPs); ``depth``:
    blocks per stage (ignored by ``logistic`` and the MLPs); ``dropout``: before the read-out (and after
    each hidden layer of the MLPs). Returns a module giving logits of shape (N,).
    """
    if in_channels < 1 or width < 1 or depth < 1 or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"bad network size: in_channels={in_channels}, width={width}, depth={depth}, dropout={dropout}"
        )
    pixels = in_channels * SIZE * SIZE
    if arch == "logistic":
        return _Flat(pixels, [], 0.0)
    if arch == "mlp1":
        return _Flat(pixels, [4 * width], dropout)
    if arch == "mlp2":
        return _Flat(pixels, [4 * width, 4 * width], dropout)
    if arch == "cnn":
        return CompactCNN(in_channels, width, depth, dropout)
    if arch == "deeplens":
        return DeepLens(in_channels, width, depth, dropout)
    if arch == "schaefer":
        return Schaefer(in_channels, width, depth, dropout)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def count_parameters(net: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters (trainable ones only by default; BN running statistics are buffers)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def count_flops(net: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floating-point operations of one forward pass per cutout: 2 x multiply-adds, as counted by
    ``FlopCounterMode`` (convolutions and matrix products). ``input_shape`` is (C, H, W) or (N, C, H, W);
    with a batch, the count is divided by N. The net is run in eval mode on zeros, then restored."""
    shape = tuple(input_shape)
    batch = 1 if len(shape) == 3 else shape[0]
    full = (1, *shape) if len(shape) == 3 else shape
    was_training = net.training
    net.eval()
    try:
        param = next(net.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            net(torch.zeros(full, device=device))
    finally:
        net.train(was_training)
    return int(counter.get_total_flops()) // batch
