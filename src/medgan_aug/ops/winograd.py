"""Winograd F(4x4, 3x3) convolution, the C++ CPU backend's 3x3 stride-1 convolutions.

On a CPU the framework's direct convolutions already run at the matmul peak,
so the StyleGAN2 networks' step can only get faster by doing fewer
multiplications.  Winograd's minimal filtering computes each 4x4 block of a
3x3 convolution's output with 36 multiply-adds per input channel where the
direct method takes 144: the input's 6x6 windows and the weights are
transformed (``medgan_aug::winograd_input``, :func:`weight_transform`), the 36
transform points are 36 matrix products over the channels (``torch.bmm``),
and the products are transformed back (``medgan_aug::winograd_output``).  The
transforms' adjoints are the backward of each other, so autograd (including
the double backward of R1 regularisation) runs through the same kernels.

Float32 results differ from a direct convolution by rounding only: with the
interpolation points used here (0, 1, -1, 2, -1/2, infinity) the root mean
square error against a float64 convolution is about 8x the direct
convolution's (1.7e-6 against 2.2e-7 on unit-variance 512-channel layers).
Set ``MEDGAN_AUG_CPU_CONV=direct`` to keep the framework's convolutions.
"""

from __future__ import annotations

import os
from fractions import Fraction

import torch
from torch._prims_common import suggest_memory_format

from ._backend import op_namespace

__all__ = [
    "CONV_ENV_VAR",
    "INTERPOLATION_POINTS",
    "eligible",
    "register_operator_hooks",
    "weight_transform",
    "winograd_conv3x3",
    "winograd_enabled",
]

CONV_ENV_VAR = "MEDGAN_AUG_CPU_CONV"
INTERPOLATION_POINTS: tuple[Fraction, ...] = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-1, 2))

# Below these sizes the transforms and the weight transform cost more than the
# multiplications they save on 2 threads.  Forward and backward of one layer at
# batch 8, with freed memory retained (medgan_aug.runtime): 128 channels at
# 128 px 1.8-2.1x faster than the direct convolution, 64 channels at 256 px
# 1.0x contiguous and 0.6x channels-last.
MIN_CHANNELS = 128
MIN_OUTPUT_PIXELS = 256


def _interpolation_matrix() -> list[list[Fraction]]:
    """G (6x3) of the Toom-Cook construction: Lagrange-normalised evaluation, then the point at infinity."""
    rows = []
    for j, point in enumerate(INTERPOLATION_POINTS):
        norm = Fraction(1)
        for k, other in enumerate(INTERPOLATION_POINTS):
            if k != j:
                norm *= point - other
        rows.append([point**power / norm for power in range(3)])
    rows.append([Fraction(0), Fraction(0), Fraction(1)])
    return rows


_G = torch.tensor([[float(v) for v in row] for row in _interpolation_matrix()], dtype=torch.float64)
# (G w G^T)[a, b] = sum_ij G[a, i] G[b, j] w[i, j]: one [36, 9] matrix on the flattened kernels.
_KERNEL_TRANSFORM = torch.kron(_G, _G)


def weight_transform(w: torch.Tensor) -> torch.Tensor:
    """``G w G^T`` of every 3x3 kernel: ``[O, C, 3, 3]`` -> ``[36, O, C]``."""
    out_channels, in_channels = w.shape[:2]
    k = _KERNEL_TRANSFORM.to(dtype=w.dtype, device=w.device)
    return (k @ w.reshape(out_channels * in_channels, 9).t()).reshape(36, out_channels, in_channels)


def winograd_enabled() -> bool:
    """Whether the C++ backend runs eligible 3x3 convolutions by Winograd (``$MEDGAN_AUG_CPU_CONV``)."""
    value = os.environ.get(CONV_ENV_VAR, "winograd").strip().lower() or "winograd"
    if value not in ("winograd", "direct"):
        raise ValueError(f"${CONV_ENV_VAR} must be 'winograd' or 'direct', got {value!r}")
    return value == "winograd"


def eligible(x: torch.Tensor, w: torch.Tensor, padding: tuple[int, int]) -> bool:
    """A float32 3x3 convolution large enough for the transforms to pay off."""
    out_h = x.shape[2] + 2 * padding[0] - 2
    out_w = x.shape[3] + 2 * padding[1] - 2
    return (
        x.dtype == torch.float32
        and w.dtype == torch.float32
        and x.device.type == "cpu"
        and tuple(w.shape[2:]) == (3, 3)
        and min(w.shape[0], w.shape[1]) >= MIN_CHANNELS
        and out_h >= 1
        and out_w >= 1
        and out_h * out_w >= MIN_OUTPUT_PIXELS
    )


def winograd_conv3x3(x: torch.Tensor, w: torch.Tensor, padding: tuple[int, int]) -> torch.Tensor:
    """Correlate ``x`` ``[N, C, H, W]`` with ``w`` ``[O, C, 3, 3]`` (stride 1, zero padding ``(y, x)``).

    Runs on the C++ CPU library (the only one with the transforms); the output
    keeps ``x``'s memory format.
    """
    ops = op_namespace("cpp")
    pad_y, pad_x = padding
    batch, _, height, width = x.shape
    channels_last = suggest_memory_format(x) == torch.channels_last
    points = ops.winograd_input(x, pad_y, pad_x)
    weights = weight_transform(w)
    if channels_last:
        # Points are [36, T, C] in memory: multiply on that side to get [36, T, O] back.
        products = torch.bmm(points.transpose(1, 2), weights.transpose(1, 2)).transpose(1, 2)
    else:
        products = torch.bmm(weights, points)
    return ops.winograd_output(products, batch, height + 2 * pad_y - 2, width + 2 * pad_x - 2, channels_last)


def _tiles(size: int) -> int:
    return (size + 3) // 4


def register_operator_hooks(namespace: str) -> None:
    """Register autograd and fake kernels of the Winograd transforms in ``namespace`` (CPU library only)."""
    ops = getattr(torch.ops, namespace)
    if not hasattr(ops, "winograd_input"):
        return

    def _domain(like: torch.Tensor, channels: int, tiles: int, channels_last: bool) -> torch.Tensor:
        if channels_last:
            return like.new_empty(36, tiles, channels).transpose(1, 2)
        return like.new_empty(36, channels, tiles)

    def input_setup(ctx, inputs, output):
        x, pad_y, pad_x = inputs
        ctx.params = (x.shape[0], x.shape[2], x.shape[3], pad_y, pad_x, suggest_memory_format(x) == torch.channels_last)

    def input_backward(ctx, grad):
        return ops.winograd_input_backward(grad, *ctx.params), None, None

    def input_fake(x, pad_y, pad_x):
        tiles = x.shape[0] * _tiles(x.shape[2] + 2 * pad_y - 2) * _tiles(x.shape[3] + 2 * pad_x - 2)
        return _domain(x, x.shape[1], tiles, suggest_memory_format(x) == torch.channels_last)

    def input_backward_setup(ctx, inputs, output):
        ctx.padding = inputs[4:6]

    def input_backward_backward(ctx, grad):
        return (ops.winograd_input(grad, *ctx.padding),) + (None,) * 6

    def input_backward_fake(grad, batch, height, width, pad_y, pad_x, channels_last):
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        return grad.new_empty(batch, grad.shape[1], height, width).contiguous(memory_format=memory_format)

    def output_backward(ctx, grad):
        return ops.winograd_output_backward(grad), None, None, None, None

    def output_fake(m, batch, height, width, channels_last):
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        return m.new_empty(batch, m.shape[1], height, width).contiguous(memory_format=memory_format)

    def output_backward_setup(ctx, inputs, output):
        (grad,) = inputs
        ctx.params = (grad.shape[0], grad.shape[2], grad.shape[3], suggest_memory_format(grad) == torch.channels_last)

    def output_backward_backward(ctx, grad):
        return ops.winograd_output(grad, *ctx.params)

    def output_backward_fake(grad):
        tiles = grad.shape[0] * _tiles(grad.shape[2]) * _tiles(grad.shape[3])
        return _domain(grad, grad.shape[1], tiles, suggest_memory_format(grad) == torch.channels_last)

    hooks = {
        "winograd_input": (input_setup, input_backward, input_fake),
        "winograd_input_backward": (input_backward_setup, input_backward_backward, input_backward_fake),
        "winograd_output": (None, output_backward, output_fake),
        "winograd_output_backward": (output_backward_setup, output_backward_backward, output_backward_fake),
    }
    for name, (setup_context, backward, fake) in hooks.items():
        torch.library.register_autograd(f"{namespace}::{name}", backward, setup_context=setup_context)
        torch.library.register_fake(f"{namespace}::{name}", fake)
