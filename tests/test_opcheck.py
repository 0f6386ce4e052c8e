"""``torch.library.opcheck`` on every compiled operator of every backend that builds here.

opcheck runs its default checks on each call: the schema (no input mutated or
aliased that the schema does not declare), the fake (meta) kernel against the
real one (shapes, dtypes and strides, so the fake must keep the same memory
format), the autograd registration, and AOT dispatch with dynamic shapes
(forward and backward traced and compared with eager).  ``cpp`` is the C++
library (``medgan_aug::``), ``cuda_emulated`` the CUDA kernels run on the CPU
(``medgan_aug_emulated::``, small inputs because emulation is slow).
"""

from __future__ import annotations

import pytest
import torch

from medgan_aug.ops import extension, setup_filter
from medgan_aug.ops._backend import op_namespace, resolve_impl

EMULATED = pytest.param("cuda_emulated", marks=pytest.mark.cuda_emulated)
BACKENDS = ["cpp", EMULATED]
FORMATS = ["contiguous", "channels_last"]


def _ops(backend: str):
    """The operator namespace of ``backend`` with its hooks registered; skip if it does not build."""
    library = {"cpp": "cpu", "cuda_emulated": "emulated"}[backend]
    if not extension.load(library):
        pytest.skip(f"the {backend} library does not build here: {extension.load_error(library)}")
    assert resolve_impl(backend, torch.device("cpu")) == backend
    return op_namespace(backend)


def _in_format(x: torch.Tensor, memory_format: str) -> torch.Tensor:
    if memory_format == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


SEPARABLE = setup_filter([1, 3, 3, 1], separable=True)
IRREGULAR = torch.tensor([[0.5, -1.0], [2.0, 0.25], [1.0, 1.5]])
UPFIRDN2D_CASES = {
    # name: (x shape, filter, up (x, y), down (x, y), pad [x0, x1, y0, y1], flip_filter, gain)
    "up2_separable": ((2, 3, 5, 4), SEPARABLE, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0),
    "down2_4x4": ((2, 3, 6, 8), setup_filter([1, 3, 3, 1]), (1, 1), (2, 2), (1, 1, 1, 1), True, 1.0),
    "mixed_crop": ((1, 2, 5, 6), IRREGULAR, (3, 1), (1, 2), (-1, 2, 0, 1), False, 1.3),
}


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("case", list(UPFIRDN2D_CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_upfirdn2d(backend, case, memory_format):
    ops = _ops(backend)
    shape, f, (upx, upy), (downx, downy), pad, flip, gain = UPFIRDN2D_CASES[case]
    if backend == "cuda_emulated":
        shape = (1, 2, *shape[2:])
    x = _in_format(torch.randn(shape, generator=torch.Generator().manual_seed(0)), memory_format)
    x.requires_grad_(True)
    args = (x, f, upx, upy, downx, downy, *pad, flip, gain)
    torch.library.opcheck(ops.upfirdn2d, args)


BIAS_ACT_CASES = {
    # name: (act, alpha, gain, clamp, with bias)
    "lrelu": ("lrelu", 0.2, 2**0.5, -1.0, True),
    "tanh_clamped": ("tanh", 0.0, 1.5, 0.8, True),
    "swish_no_bias": ("swish", 0.0, 2**0.5, -1.0, False),
}


def _bias_act_inputs(backend: str, memory_format: str, with_bias: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    shape = (1, 3, 3, 4) if backend == "cuda_emulated" else (2, 5, 4, 3)
    x = _in_format(torch.randn(shape, generator=gen), memory_format)
    b = torch.randn(shape[1], generator=gen) if with_bias else torch.empty(0)
    return x, b


@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("case", list(BIAS_ACT_CASES))
@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_act(backend, case, memory_format):
    ops = _ops(backend)
    act, alpha, gain, clamp, with_bias = BIAS_ACT_CASES[case]
    x, b = _bias_act_inputs(backend, memory_format, with_bias)
    x.requires_grad_(True)
    b.requires_grad_(with_bias)
    torch.library.opcheck(ops.bias_act, (x, b, 1, act, alpha, gain, clamp))


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("dy_format", FORMATS)
@pytest.mark.parametrize("memory_format", FORMATS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_act_grad(backend, memory_format, dy_format, order):
    ops = _ops(backend)
    x, b = _bias_act_inputs(backend, memory_format, True)
    dy = _in_format(torch.randn(x.shape, generator=torch.Generator().manual_seed(1)), dy_format)
    # Gradients of the first-order gradient w.r.t. everything; the second order only w.r.t. dy.
    dy.requires_grad_(True)
    if order == 1:
        x.requires_grad_(True)
        b.requires_grad_(True)
    torch.library.opcheck(ops.bias_act_grad, (dy, x, b, 1, "lrelu", 0.2, 2**0.5, 0.9, order))


@pytest.mark.parametrize("weight_format", FORMATS)
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("backend", BACKENDS)
def test_modulate_weight(backend, demodulate, weight_format):
    ops = _ops(backend)
    gen = torch.Generator().manual_seed(0)
    weight = _in_format(torch.randn(4, 3, 3, 3, generator=gen), weight_format).requires_grad_(True)
    styles = (torch.rand(2, 3, generator=gen) + 0.5).requires_grad_(True)
    torch.library.opcheck(ops.modulate_weight, (weight, styles, demodulate, 1e-8))


def _sample_planes_args(order: int):
    gen = torch.Generator().manual_seed(0)
    volume = torch.randn(5, 6, 7, dtype=torch.float64, generator=gen)
    origins = torch.rand(3, 3, dtype=torch.float64, generator=gen) * 4
    steps = torch.randn(3, 2, 3, dtype=torch.float64, generator=gen) * 0.7
    return volume, origins, steps, 4, 5, order, 0.0


@pytest.mark.parametrize("order", [0, 1, 3])
def test_sample_planes(order):
    torch.library.opcheck(_ops("cpp").sample_planes, _sample_planes_args(order))
