"""Fused bias + activation + gain + clamp (``bias_act``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

from ._backend import op_namespace, resolve_impl
from ._validation import check_tensor

__all__ = ["ACTIVATIONS", "ActivationSpec", "bias_act", "register_operator_hooks"]


@dataclass(frozen=True)
class ActivationSpec:
    """An activation function and the defaults StyleGAN2 uses with it.

    Attributes
    ----------
    func : callable
        ``func(z, alpha)`` in plain PyTorch.
    default_alpha : float
        Default ``alpha`` (only ``lrelu`` reads it).
    default_gain : float
        Default gain, chosen so the activation roughly preserves variance.
    """

    func: Callable[[torch.Tensor, float], torch.Tensor]
    default_alpha: float
    default_gain: float


ACTIVATIONS: dict[str, ActivationSpec] = {
    "linear": ActivationSpec(lambda z, _: z, 0.0, 1.0),
    "relu": ActivationSpec(lambda z, _: F.relu(z), 0.0, math.sqrt(2)),
    "lrelu": ActivationSpec(lambda z, alpha: F.leaky_relu(z, alpha), 0.2, math.sqrt(2)),
    "tanh": ActivationSpec(lambda z, _: torch.tanh(z), 0.0, 1.0),
    "sigmoid": ActivationSpec(lambda z, _: torch.sigmoid(z), 0.0, 1.0),
    "elu": ActivationSpec(lambda z, _: F.elu(z), 0.0, 1.0),
    "selu": ActivationSpec(lambda z, _: F.selu(z), 0.0, 1.0),
    "softplus": ActivationSpec(lambda z, _: F.softplus(z), 0.0, 1.0),
    "swish": ActivationSpec(lambda z, _: z * torch.sigmoid(z), 0.0, math.sqrt(2)),
}
"""The activations ``bias_act`` accepts (``act=``), each with its default ``alpha`` and ``gain``."""


def _bias_shape(x: torch.Tensor, dim: int) -> list[int]:
    return [-1 if i == dim else 1 for i in range(x.ndim)]


def _bias_act_ref(
    x: torch.Tensor, b: torch.Tensor | None, dim: int, act: str, alpha: float, gain: float, clamp: float
) -> torch.Tensor:
    memory_format = suggest_memory_format(x)
    if b is not None:
        x = x + b.to(x.dtype).reshape(_bias_shape(x, dim))
    x = ACTIVATIONS[act].func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x.contiguous(memory_format=memory_format)


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str | None = None,
) -> torch.Tensor:
    """Add a bias, apply an activation, scale and clamp, in one pass.

    Computes ``clamp(act(x + b) * gain, -clamp, clamp)`` with ``b`` broadcast
    along ``dim``.

    Parameters
    ----------
    x : torch.Tensor
        Input of any shape, floating point.
    b : torch.Tensor, optional
        1-D bias of length ``x.shape[dim]``.
    dim : int
        Dimension of ``x`` the bias runs along.
    act : str
        One of ``linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus, swish``.
    alpha : float, optional
        Negative slope of ``lrelu`` (default 0.2); ignored by the others.
    gain : float, optional
        Output scale; default ``sqrt(2)`` for relu, lrelu and swish, else 1.
    clamp : float, optional
        Clamp the output to ``[-clamp, clamp]``; ``None`` = no clamp.
    impl : str, optional
        ``"ref"``, ``"cpp"``, ``"cuda"``, ``"cuda_emulated"`` or ``"auto"``.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``, in the memory format ``x`` suggests
        (``channels_last`` for a channels-last ``x``, else contiguous).
    """
    check_tensor(x, "x")
    if act not in ACTIVATIONS:
        raise ValueError(f"act must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim={dim} is out of range for x with {x.ndim} dimensions")
    dim %= x.ndim
    if b is not None:
        check_tensor(b, "b", ndim=1, device=x.device)
        if b.shape[0] != x.shape[dim]:
            raise ValueError(f"b must be 1-D with x.shape[{dim}] = {x.shape[dim]} elements, got shape {tuple(b.shape)}")
    spec = ACTIVATIONS[act]
    alpha = float(spec.default_alpha if alpha is None else alpha)
    gain = float(spec.default_gain if gain is None else gain)
    if clamp is not None and clamp < 0:
        raise ValueError(f"clamp must be >= 0 or None, got {clamp}")
    clamp = -1.0 if clamp is None else float(clamp)
    chosen = resolve_impl(impl, x.device)
    if chosen == "ref":
        return _bias_act_ref(x, b, dim, act, alpha, gain, clamp)
    bias = x.new_empty(0) if b is None else b
    return op_namespace(chosen).bias_act(x, bias, dim, act, alpha, gain, clamp)


def _sum_to_bias(grad: torch.Tensor, b: torch.Tensor, dim: int) -> torch.Tensor | None:
    if b.numel() == 0:
        return None
    dims = [i for i in range(grad.ndim) if i != dim]
    return grad.sum(dims).to(b.dtype) if dims else grad.to(b.dtype)


def register_operator_hooks(namespace: str) -> None:
    """Register autograd and fake kernels of ``namespace::bias_act`` and ``bias_act_grad``."""
    ops = getattr(torch.ops, namespace)

    def setup_forward(ctx, inputs, output):
        x, b, dim, act, alpha, gain, clamp = inputs
        ctx.save_for_backward(x, b)
        ctx.params = (dim, act, alpha, gain, clamp)

    def backward_forward(ctx, dy):
        x, b = ctx.saved_tensors
        dim = ctx.params[0]
        dx = ops.bias_act_grad(dy, x, b, *ctx.params, 1)
        db = _sum_to_bias(dx, b, dim) if ctx.needs_input_grad[1] else None
        return dx, db, None, None, None, None, None

    def setup_grad(ctx, inputs, output):
        dy, x, b, dim, act, alpha, gain, clamp, order = inputs
        ctx.save_for_backward(dy, x, b)
        ctx.params = (dim, act, alpha, gain, clamp)
        ctx.order = order

    def backward_grad(ctx, g):
        dy, x, b = ctx.saved_tensors
        dim = ctx.params[0]
        d_dy = ops.bias_act_grad(g, x, b, *ctx.params, ctx.order) if ctx.needs_input_grad[0] else None
        dx = db = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            if ctx.order >= 2:
                raise NotImplementedError("bias_act supports first- and second-order gradients only")
            dx = ops.bias_act_grad(g * dy, x, b, *ctx.params, ctx.order + 1)
            db = _sum_to_bias(dx, b, dim) if ctx.needs_input_grad[2] else None
        return d_dy, dx, db, None, None, None, None, None, None

    torch.library.register_autograd(f"{namespace}::bias_act", backward_forward, setup_context=setup_forward)
    torch.library.register_autograd(f"{namespace}::bias_act_grad", backward_grad, setup_context=setup_grad)

    # The kernels return x's suggested memory format, whatever dy's.
    def fake_forward(x, b, dim, act, alpha, gain, clamp):
        return torch.empty_like(x, memory_format=suggest_memory_format(x))

    def fake_grad(dy, x, b, dim, act, alpha, gain, clamp, order):
        return torch.empty_like(x, memory_format=suggest_memory_format(x))

    torch.library.register_fake(f"{namespace}::bias_act", fake_forward)
    torch.library.register_fake(f"{namespace}::bias_act_grad", fake_grad)
