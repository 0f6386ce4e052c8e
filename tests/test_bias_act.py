"""bias_act on every CPU implementation."""

from __future__ import annotations

import math

import pytest
import torch
from torch._prims_common import suggest_memory_format

from medgan_aug.ops import ACTIVATIONS, bias_act
from tests.conftest import CPU_IMPLS, reference_cases, relative_error, run_bias_act_case

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def activation_float64(name: str, z: torch.Tensor, alpha: float) -> torch.Tensor:
    """Closed-form activations, written out independently of torch.nn.functional."""
    positive = z > 0
    expm1 = torch.expm1(torch.minimum(z, z.new_zeros(())))
    sig = 1 / (1 + torch.exp(-z))
    return {
        "linear": z,
        "relu": torch.where(positive, z, 0),
        "lrelu": torch.where(positive, z, alpha * z),
        "tanh": (torch.exp(2 * z) - 1) / (torch.exp(2 * z) + 1),
        "sigmoid": sig,
        "elu": torch.where(positive, z, expm1),
        "selu": SELU_SCALE * torch.where(positive, z, SELU_ALPHA * expm1),
        "softplus": torch.log1p(torch.exp(-z.abs())) + z.clamp(min=0),
        "swish": z * sig,
    }[name]


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("case", reference_cases("bias_act"))
def test_matches_stylegan2_ada_reference(impl, case):
    y, dx, db = run_bias_act_case(case, impl)
    assert relative_error(y, case["y"]) < 1e-6
    assert relative_error(dx, case["dx"]) < 1e-6
    assert relative_error(db, case["db"]) < 1e-6


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_matches_closed_form_with_defaults_and_clamp(impl, act):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, 2, dtype=torch.float64, generator=gen) * 3
    b = torch.randn(4, dtype=torch.float64, generator=gen)
    spec = ACTIVATIONS[act]
    z = x + b.reshape(1, 1, 4, 1)
    expected = activation_float64(act, z, spec.default_alpha) * spec.default_gain
    assert relative_error(bias_act(x, b, dim=2, act=act, impl=impl), expected) < 1e-12
    clamped = bias_act(x, b, dim=-2, act=act, alpha=0.3, gain=0.7, clamp=0.5, impl=impl)
    expected = (activation_float64(act, z, 0.3) * 0.7).clamp(-0.5, 0.5)
    assert relative_error(clamped, expected) < 1e-12
    assert relative_error(bias_act(x, act=act, impl=impl), activation_float64(act, x, 0.2) * spec.default_gain) < 1e-12


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("clamp", [None, 0.8])
def test_first_and_second_order_gradients(impl, act, clamp):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)

    def op(x, b):
        return bias_act(x, b, act=act, alpha=0.25, gain=1.3, clamp=clamp, impl=impl)

    assert torch.autograd.gradcheck(op, (x, b))
    assert torch.autograd.gradgradcheck(op, (x, b))


@pytest.mark.parametrize("impl", ["ref", "cpp"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_low_precision_and_strided_inputs(impl, dtype):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 6, 5, 3, dtype=torch.float64, generator=gen).permute(0, 3, 2, 1)
    b = torch.randn(3, dtype=torch.float64, generator=gen)
    expected = bias_act(x, b, act="lrelu", clamp=1.0, impl="ref")
    y = bias_act(x.to(dtype), b.to(dtype), act="lrelu", clamp=1.0, impl=impl)
    assert y.dtype == dtype and y.shape == x.shape
    tolerance = {torch.float32: 1e-6, torch.float16: 2e-3, torch.bfloat16: 2e-2}[dtype]
    assert relative_error(y, expected) < tolerance


def in_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "contiguous":
        return x.contiguous()
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    # every other channel of a wider channels-last tensor: channels-last strides, not dense
    wide = torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:], dtype=x.dtype)
    wide = wide.contiguous(memory_format=torch.channels_last)
    wide[:, ::2] = x
    return wide[:, ::2]


@pytest.mark.parametrize("impl", ["ref", "cpp"], indirect=True)
@pytest.mark.parametrize("layout", ["channels_last", "channels_last_strided"])
@pytest.mark.parametrize("dim", [1, 3])
@pytest.mark.parametrize("act", ["lrelu", "swish"])
def test_channels_last_matches_closed_form_and_keeps_the_format(impl, layout, dim, act):
    gen = torch.Generator().manual_seed(4)
    base = torch.randn(2, 5, 3, 4, dtype=torch.float64, generator=gen) * 2
    b = torch.randn(base.shape[dim], dtype=torch.float64, generator=gen, requires_grad=True)
    x = in_layout(base, layout).requires_grad_(True)
    shape = [-1 if i == dim else 1 for i in range(4)]
    y = bias_act(x, b, dim=dim, act=act, alpha=0.3, gain=1.2, clamp=2.0, impl=impl)
    z = base + b.detach().reshape(shape)
    assert relative_error(y, (activation_float64(act, z, 0.3) * 1.2).clamp(-2, 2)) < 1e-12
    assert y.is_contiguous(memory_format=torch.channels_last)
    # dx keeps x's format whatever dy's; db sums over the right axes.
    for dy_layout in ("contiguous", "channels_last"):
        dy = in_layout(torch.randn(y.shape, dtype=torch.float64, generator=gen), dy_layout)
        dx, db = torch.autograd.grad(y, (x, b), dy, retain_graph=True)
        expected = torch.autograd.grad(
            bias_act(base.requires_grad_(True), b, dim=dim, act=act, alpha=0.3, gain=1.2, clamp=2.0, impl="ref"),
            (base, b),
            dy.contiguous(),
        )
        # (the ref path keeps the format of its forward output only)
        assert impl == "ref" or dx.is_contiguous(memory_format=suggest_memory_format(x))
        assert relative_error(dx, expected[0]) < 1e-12 and relative_error(db, expected[1]) < 1e-12


@pytest.mark.parametrize("impl", ["cpp"], indirect=True)
@pytest.mark.parametrize("act", ["lrelu", "tanh"])
def test_channels_last_first_and_second_order_gradients(impl, act):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 2, 3, dtype=torch.float64, generator=gen).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    b = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)

    def op(x, b):
        y = bias_act(x, b, act=act, alpha=0.25, gain=1.3, clamp=0.9, impl=impl)
        assert y.is_contiguous(memory_format=torch.channels_last)
        return y

    assert torch.autograd.gradcheck(op, (x, b))
    assert torch.autograd.gradgradcheck(op, (x, b))


@pytest.mark.parametrize("impl", CPU_IMPLS, indirect=True)
@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (torch.ones(2, 3, dtype=torch.int64), {}, TypeError, "x must be a floating-point"),
        (torch.ones(0, 3), {}, ValueError, "x must not be empty"),
        (torch.ones(2, 3), {"act": "gelu"}, ValueError, "act must be one of"),
        (torch.ones(2, 3), {"b": torch.ones(4)}, ValueError, r"b must be 1-D with x.shape\[1\] = 3"),
        (torch.ones(2, 3), {"b": torch.ones(3, 1)}, ValueError, "b must be 1-D"),
        (torch.ones(2, 3), {"b": torch.ones(3, device="meta")}, ValueError, "b is on meta"),
        (torch.ones(2, 3), {"dim": 2}, ValueError, "dim=2 is out of range"),
        (torch.ones(2, 3), {"clamp": -1.0}, ValueError, "clamp must be >= 0"),
    ],
)
def test_bad_input_is_rejected_with_the_argument_named(impl, x, kwargs, error, match):
    with pytest.raises(error, match=match):
        bias_act(x, impl=impl, **kwargs)


def test_default_gains_preserve_variance_of_unit_gaussian_for_relu_family():
    x = torch.randn(200_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    second_moment = bias_act(x, act="relu", dim=0, impl="ref").square().mean().item()
    assert math.isclose(second_moment, 1.0, rel_tol=0.02)
