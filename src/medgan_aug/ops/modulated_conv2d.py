"""StyleGAN2 modulated convolution and the resampling convolution under it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._backend import op_namespace, resolve_impl
from ._validation import check_tensor
from .upfirdn2d import Padding, _padding, centred_padding, upfirdn2d
from .winograd import eligible, winograd_conv3x3, winograd_enabled

__all__ = ["conv2d_resample", "modulate_weight", "modulated_conv2d", "register_operator_hooks"]

DEMODULATION_EPS = 1e-8


def _conv(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
    correlate: bool = True,
    transpose: bool = False,
) -> torch.Tensor:
    """Framework convolution; ``correlate=False`` flips the kernel (a true convolution)."""
    if not correlate and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _transpose_groups(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``[O, I/g, kh, kw]`` conv weight → ``[I, O/g, kh, kw]`` transposed-conv weight."""
    out_channels, in_per_group, kh, kw = w.shape
    w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_channels // groups, kh, kw)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
    impl: str | None = None,
) -> torch.Tensor:
    """2-D convolution with optional up/down-sampling through the FIR filter ``f``.

    Equivalent to ``upfirdn2d(x, f, up=up, padding=p, gain=up**2)``, a valid
    convolution with ``w``, then ``upfirdn2d(., f, down=down)``, where ``p``
    is ``padding`` widened so the output stays centred; the cheapest
    equivalent order of operations is picked (strided or transposed
    convolution, filtering the smaller side of 1x1 convolutions).

    Parameters
    ----------
    x : torch.Tensor
        ``[N, C, H, W]``.
    w : torch.Tensor
        ``[O, C/groups, kh, kw]``.
    f : torch.Tensor, optional
        Resampling filter (see :func:`setup_filter`); needed when ``up`` or ``down`` > 1.
    up, down : int
        Integer resampling factors.
    padding : int, (x, y) or [x0, x1, y0, y1]
        Padding, as for a plain convolution at the output resolution.
    groups : int
        Convolution groups.
    flip_weight : bool
        ``True`` correlates with ``w`` (like ``torch.nn.functional.conv2d``);
        ``False`` convolves.
    flip_filter : bool
        Passed to :func:`upfirdn2d`.
    impl : str, optional
        Implementation of the filtering steps.  Under ``cpp``, float32 3x3
        stride-1 convolutions of 128+ channels and 256+ output pixels run by
        Winograd's F(4x4, 3x3) (:mod:`medgan_aug.ops.winograd`).
    """
    kh, kw = w.shape[2:]
    # Without resampling the filter is not applied, so it adds no padding.
    resampled = up > 1 or down > 1
    pad = centred_padding(f, padding, (up, up), (down, down)) if resampled else list(_padding(padding))
    px0, px1, py0, py1 = pad

    def fir(t: torch.Tensor, **kwargs: object) -> torch.Tensor:
        return upfirdn2d(t, f, flip_filter=flip_filter, impl=impl, **kwargs)

    if kw == 1 and kh == 1 and down > 1 and up == 1:
        # A 1x1 kernel commutes with the filter: shrink the image before mixing channels.
        x = fir(x, down=down, padding=pad)
        return _conv(x, w, groups=groups, correlate=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, correlate=flip_weight)
        return fir(x, up=up, padding=pad, gain=up**2)
    if down > 1 and up == 1:
        x = fir(x, padding=pad)
        return _conv(x, w, stride=down, groups=groups, correlate=flip_weight)
    if up > 1:
        # Transposed convolution computes the weights only at the non-zero samples of the
        # zero-stuffed image; the rest of the padding is then applied by the filter.
        px0, px1 = px0 - (kw - 1), px1 - (kw - up)
        py0, py1 = py0 - (kh - 1), py1 - (kh - up)
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv(
            x,
            _transpose_groups(w, groups),
            stride=up,
            padding=(pyt, pxt),
            groups=groups,
            correlate=not flip_weight,
            transpose=True,
        )
        x = fir(x, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2)
        if down > 1:
            x = fir(x, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        winograd = groups == 1 and eligible(x, w, (py0, px0)) and winograd_enabled()
        if winograd and resolve_impl(impl, x.device) == "cpp":
            return winograd_conv3x3(x, w if flip_weight else w.flip([2, 3]), (py0, px0))
        return _conv(x, w, padding=(py0, px0), groups=groups, correlate=flip_weight)
    x = upfirdn2d(x, None, padding=pad, impl=impl)
    x = _conv(x, w, groups=groups, correlate=flip_weight)
    if down > 1:
        x = fir(x, down=down)
    return x


def _modulate_weight_ref(
    weight: torch.Tensor, styles: torch.Tensor, demodulate: bool, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]
    if not demodulate:
        return w, w.new_ones(w.shape[:2])
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + eps).rsqrt()
    return w * dcoefs[:, :, None, None, None], dcoefs


def modulate_weight(
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    eps: float = DEMODULATION_EPS,
    impl: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample modulated (and demodulated) convolution weights.

    Parameters
    ----------
    weight : torch.Tensor
        ``[O, I, kh, kw]``.
    styles : torch.Tensor
        ``[N, I]`` per-sample input-channel scales.
    demodulate : bool
        Normalise each output filter to unit L2 norm.
    eps : float
        Added to the squared norm before the reciprocal square root.
    impl : str, optional
        Implementation (see :func:`upfirdn2d`).

    Returns
    -------
    w : torch.Tensor
        ``[N, O, I, kh, kw]`` modulated weights.
    dcoefs : torch.Tensor
        ``[N, O]`` demodulation coefficients (ones when ``demodulate`` is false).
    """
    chosen = resolve_impl(impl, weight.device)
    if chosen == "ref":
        return _modulate_weight_ref(weight, styles, demodulate, eps)
    w, dcoefs = op_namespace(chosen).modulate_weight(weight, styles, bool(demodulate), float(eps))
    return w, dcoefs


def _check_modulated_inputs(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None
) -> None:
    check_tensor(x, "x", ndim=4, layout=" [N, I, H, W]")
    check_tensor(weight, "weight", ndim=4, layout=" [O, I, kh, kw]", device=x.device)
    check_tensor(styles, "styles", ndim=2, layout=" [N, I]", device=x.device)
    batch, in_channels = x.shape[:2]
    if weight.shape[1] != in_channels:
        raise ValueError(
            f"weight has {weight.shape[1]} input channels but x has {in_channels} (shape {tuple(x.shape)})"
        )
    if styles.shape != (batch, in_channels):
        raise ValueError(f"styles must have shape [{batch}, {in_channels}], got {tuple(styles.shape)}")
    if noise is not None and noise.device != x.device:
        raise ValueError(f"noise is on {noise.device} but x is on {x.device}")


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: Padding = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
    impl: str | None = None,
) -> torch.Tensor:
    """The StyleGAN2 modulated convolution.

    Scales the input channels of ``weight`` by each sample's ``styles``,
    optionally demodulates (unit-norm output filters, epsilon 1e-8),
    convolves with up/down-sampling through ``resample_filter`` and adds
    ``noise``.

    Parameters
    ----------
    x : torch.Tensor
        ``[N, I, H, W]``.
    weight : torch.Tensor
        ``[O, I, kh, kw]``.
    styles : torch.Tensor
        ``[N, I]``.
    noise : torch.Tensor, optional
        Added to the output (broadcast, e.g. ``[N, 1, H, W]``).
    up, down : int
        Resampling factors.
    padding : int, (x, y) or [x0, x1, y0, y1]
        Convolution padding (``kernel_size // 2`` keeps the size).
    resample_filter : torch.Tensor, optional
        FIR filter for resampling (``setup_filter([1, 3, 3, 1])``).
    demodulate : bool
        Apply weight demodulation.
    flip_weight : bool
        ``True`` correlates (``conv2d`` convention), ``False`` convolves.
    fused_modconv : bool
        Compute per-sample weights and run one grouped convolution (``True``)
        or scale activations before and after one shared convolution
        (``False``; cheaper for large batches and in training).
    impl : str, optional
        Implementation of the custom kernels (see :func:`upfirdn2d`).

    Returns
    -------
    torch.Tensor
        ``[N, O, H', W']``.
    """
    _check_modulated_inputs(x, weight, styles, noise)
    batch, in_channels = x.shape[:2]
    out_channels, _, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # Rescale before the products so float16 cannot overflow; demodulation undoes it.
        weight = weight * (
            1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    resample = {"f": resample_filter, "up": up, "down": down, "padding": padding, "flip_weight": flip_weight}

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), impl=impl, **resample)
        if demodulate:
            power = styles.square() @ weight.square().sum(dim=[2, 3]).t()
            dcoefs = (power + DEMODULATION_EPS).rsqrt()
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    w, _ = modulate_weight(weight, styles.to(weight.dtype), demodulate, DEMODULATION_EPS, impl=impl)
    x = x.reshape(1, batch * in_channels, *x.shape[2:])
    w = w.reshape(batch * out_channels, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), groups=batch, impl=impl, **resample)
    x = x.reshape(batch, out_channels, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


def register_operator_hooks(namespace: str) -> None:
    """Register autograd and the fake kernel of ``namespace::modulate_weight``."""
    name = f"{namespace}::modulate_weight"

    def setup_context(ctx, inputs, output):
        weight, styles, demodulate, _eps = inputs
        ctx.save_for_backward(weight, styles, output[1])
        ctx.demodulate = demodulate

    def backward(ctx, dw, ddcoefs):
        weight, styles, dcoefs = ctx.saved_tensors
        unscaled = weight.unsqueeze(0) * styles[:, None, :, None, None]
        if ctx.demodulate:
            # w = u * d with d = (sum u^2 + eps)^-1/2, so dL/du = d*dL/dw - d^3 (sum dL/dw*u + dL/dd) u.
            d = dcoefs[:, :, None, None, None]
            total = (dw * unscaled).sum(dim=[2, 3, 4])
            if ddcoefs is not None:
                total = total + ddcoefs
            du = dw * d - total[:, :, None, None, None] * d.pow(3) * unscaled
        else:
            du = dw
        dweight = (du * styles[:, None, :, None, None]).sum(0) if ctx.needs_input_grad[0] else None
        dstyles = (du * weight.unsqueeze(0)).sum(dim=[1, 3, 4]) if ctx.needs_input_grad[1] else None
        return dweight, dstyles, None, None

    torch.library.register_autograd(name, backward, setup_context=setup_context)

    def fake(weight, styles, demodulate, eps):
        w = weight.new_empty(styles.shape[0], *weight.shape)
        return w, weight.new_empty(styles.shape[0], weight.shape[0])

    torch.library.register_fake(name, fake)
