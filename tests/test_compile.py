"""The compiled operators behave as ordinary PyTorch ops under torch.compile and FX tracing."""

from __future__ import annotations

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from medgan_aug.ops import bias_act, modulated_conv2d, setup_filter, upsample2d

FILTER = setup_filter([1, 3, 3, 1])


def block(x, weight, styles, bias):
    y = modulated_conv2d(x, weight, styles, padding=1, impl="cpp")
    y = bias_act(y, bias, act="lrelu", clamp=256, impl="cpp")
    return upsample2d(y, FILTER, impl="cpp")


def inputs(requires_grad=False):
    gen = torch.Generator().manual_seed(0)
    tensors = (
        torch.randn(2, 3, 8, 8, generator=gen),
        torch.randn(4, 3, 3, 3, generator=gen),
        torch.randn(2, 3, generator=gen),
        torch.randn(4, generator=gen),
    )
    return [t.requires_grad_(requires_grad) for t in tensors]


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
def test_fx_trace_records_the_custom_operators(impl):
    graph = make_fx(block)(*inputs()).code
    for op in ("medgan_aug.modulate_weight", "medgan_aug.bias_act", "medgan_aug.upfirdn2d"):
        assert op in graph


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
def test_torch_compile_forward_and_backward_match_eager(impl):
    eager_inputs = inputs(requires_grad=True)
    compiled_inputs = inputs(requires_grad=True)
    eager = block(*eager_inputs)
    compiled = torch.compile(block, backend="aot_eager", fullgraph=True)(*compiled_inputs)
    torch.testing.assert_close(compiled, eager)
    eager.square().sum().backward()
    compiled.square().sum().backward()
    for a, b in zip(compiled_inputs, eager_inputs, strict=False):
        torch.testing.assert_close(a.grad, b.grad)
