"""Every architecture builds, maps (N, C, 101, 101) to (N,) logits, and stays within the FLOP budget."""

from __future__ import annotations

import pytest
import torch

from training.nets import ARCHS, CNN_ARCHS, build_net, count_flops, count_parameters

BUDGET_FLOPS = 0.5e9  # DESIGN/issue 3: shipped models at most ~0.5 GFLOP per cutout


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("channels", [1, 4])
def test_logits_shape_and_gradients(arch: str, channels: int) -> None:
    torch.manual_seed(0)
    net = build_net(arch, channels, width=8, depth=1, dropout=0.1)
    x = torch.randn(3, channels, 101, 101)
    out = net(x)
    assert out.shape == (3,)
    out.sum().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    net.eval()
    assert net(x[:1]).shape == (1,)


@pytest.mark.parametrize("arch", CNN_ARCHS)
def test_cnn_flops_within_budget_at_shipped_sizes(arch: str) -> None:
    for channels in (1, 4):
        net = build_net(arch, channels, width=32, depth=2)
        flops = count_flops(net, (channels, 101, 101))
        assert 0 < flops < BUDGET_FLOPS


def test_flops_per_cutout_do_not_depend_on_batch_and_match_a_hand_count() -> None:
    net = build_net("logistic", 1)
    assert count_flops(net, (1, 101, 101)) == 2 * 101 * 101  # one multiply-add per pixel
    cnn = build_net("cnn", 1, width=8, depth=1)
    assert count_flops(cnn, (4, 1, 101, 101)) == count_flops(cnn, (1, 101, 101))


def test_parameters_and_sizes() -> None:
    assert count_parameters(build_net("logistic", 4)) == 4 * 101 * 101 + 1
    assert count_parameters(build_net("mlp1", 1, width=8)) == 101 * 101 * 32 + 32 + 32 + 1
    small = count_parameters(build_net("deeplens", 1, width=8, depth=1))
    assert count_parameters(build_net("deeplens", 1, width=16, depth=1)) > small
    assert count_parameters(build_net("deeplens", 1, width=8, depth=2)) > small


def test_count_flops_restores_training_mode() -> None:
    net = build_net("cnn", 1, width=8, depth=1)
    net.train()
    count_flops(net, (1, 101, 101))
    assert net.training


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_net("vgg", 1)
    with pytest.raises(ValueError, match="bad network size"):
        build_net("cnn", 0)
