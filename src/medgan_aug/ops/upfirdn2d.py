"""Upsample, FIR-filter, downsample (``upfirdn2d``) and the resampling helpers on it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

from ._backend import op_namespace, resolve_impl
from ._validation import check_tensor

__all__ = [
    "centred_padding",
    "downsample2d",
    "filter2d",
    "filter_size",
    "register_operator_hooks",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]

Pair = int | Sequence[int]
Padding = int | Sequence[int]
FilterLike = torch.Tensor | np.ndarray | Sequence[float] | Sequence[Sequence[float]] | float | None


def setup_filter(
    f: FilterLike,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
    *,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Make a float32 FIR filter tensor for :func:`upfirdn2d`.

    Parameters
    ----------
    f : tensor, array, sequence or None
        Filter taps, 1-D or 2-D (``None`` = ``[1]``).
    normalize : bool
        Divide the taps by their sum so the filter has unit DC gain.
    flip_filter : bool
        Flip the taps (turns the convolution of :func:`upfirdn2d` into a correlation).
    gain : float
        Overall gain; 1-D filters get ``sqrt(gain)`` per axis.
    separable : bool, optional
        Keep a 1-D filter 1-D (applied along x then y).  Default: only when
        it has 8 or more taps, otherwise it becomes the 2-D outer product.
    device : torch.device or str
        Device of the returned filter.

    Returns
    -------
    torch.Tensor
        ``[k]`` (separable) or ``[fh, fw]`` float32 filter.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim not in (1, 2):
        raise ValueError(f"f must be 1-D or 2-D, got shape {tuple(f.shape)}")
    if f.numel() == 0:
        raise ValueError("f must not be empty")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        total = f.sum()
        if total == 0:
            raise ValueError("f sums to zero and cannot be normalized; pass normalize=False")
        f = f / total
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device)


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """``(width, height)`` of a filter (``(1, 1)`` for ``None``)."""
    if f is None:
        return 1, 1
    if f.ndim == 1:
        return f.shape[0], f.shape[0]
    return f.shape[1], f.shape[0]


def _pair(value: Pair, name: str, minimum: int) -> tuple[int, int]:
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"{name} must be an int or an (x, y) pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def _padding(padding: Padding) -> tuple[int, int, int, int]:
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    values = tuple(padding)
    if not all(isinstance(v, (int, np.integer)) for v in values):
        raise ValueError(f"padding must hold ints, got {padding!r}")
    if len(values) == 2:
        return int(values[0]), int(values[0]), int(values[1]), int(values[1])
    if len(values) == 4:
        return tuple(int(v) for v in values)  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, (x, y) or [x0, x1, y0, y1], got {padding!r}")


def centred_padding(
    f: torch.Tensor | None,
    padding: Padding = 0,
    up: tuple[int, int] = (1, 1),
    down: tuple[int, int] = (1, 1),
) -> list[int]:
    """``[x0, x1, y0, y1]``: ``padding`` plus what keeps a resampled image centred.

    StyleGAN2's convention: upsampling by ``u`` adds ``(taps + u - 1) // 2``
    before and ``(taps - u) // 2`` after, downsampling by ``d`` adds
    ``(taps - d + 1) // 2`` and ``(taps - d) // 2``; filtering at the same
    resolution is the ``u = 1`` case.
    """

    def extra(taps: int, u: int, d: int) -> tuple[int, int]:
        before = after = 0
        if u > 1 or d == 1:
            before, after = (taps + u - 1) // 2, (taps - u) // 2
        if d > 1:
            before, after = before + (taps - d + 1) // 2, after + (taps - d) // 2
        return before, after

    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _padding(padding)
    (ex0, ex1), (ey0, ey1) = extra(fw, up[0], down[0]), extra(fh, up[1], down[1])
    return [px0 + ex0, px1 + ex1, py0 + ey0, py1 + ey1]


def _check_filter(f: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if f is None:
        return torch.ones(1, 1, dtype=torch.float32, device=x.device)
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"f must be a torch.Tensor or None (see setup_filter), got {type(f).__name__}")
    check_tensor(f, "f", device=x.device)
    if f.ndim not in (1, 2):
        raise ValueError(f"f must be a non-empty 1-D or 2-D filter, got shape {tuple(f.shape)}")
    return f


def _output_size(size: int, up: int, down: int, pad0: int, pad1: int, taps: int, axis: str) -> int:
    padded = size * up + pad0 + pad1
    if padded < taps:
        raise ValueError(
            f"the filter ({taps} taps along {axis}) is larger than the padded input "
            f"({padded} samples along {axis} after upsampling and padding)"
        )
    return (padded - taps) // down + 1


def _upfirdn2d_ref(
    x: torch.Tensor,
    f: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
    flip_filter: bool,
    gain: float,
) -> torch.Tensor:
    """upfirdn2d in plain PyTorch (differentiable to any order), in x's memory format."""
    memory_format = suggest_memory_format(x)
    batch, channels, height, width = x.shape
    (upx, upy), (downx, downy) = up, down
    padx0, padx1, pady0, pady1 = pad
    if upx > 1 or upy > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(batch, channels, height * upy, width * upx)
    x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
    x = x[
        :,
        :,
        max(-pady0, 0) : x.shape[2] - max(-pady1, 0),
        max(-padx0, 0) : x.shape[3] - max(-padx1, 0),
    ]
    # Scaled in the filter's own dtype first, as the reference does (it matters at 1e-7).
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    weight = f[None, None].expand(channels, 1, *f.shape)
    if f.ndim == 2:
        x = F.conv2d(x, weight, stride=(downy, downx), groups=channels)
    else:
        x = F.conv2d(x, weight.unsqueeze(2), stride=(1, downx), groups=channels)
        x = F.conv2d(x, weight.unsqueeze(3), stride=(downy, 1), groups=channels)
    return x.contiguous(memory_format=memory_format)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Pair = 1,
    down: Pair = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str | None = None,
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images.

    Inserts ``up - 1`` zeros after every pixel, pads with zeros (negative
    padding crops), convolves with ``f`` (a correlation if ``flip_filter``)
    scaled by ``gain ** (f.ndim / 2)``, and keeps every ``down``-th pixel.

    Parameters
    ----------
    x : torch.Tensor
        Images ``[N, C, H, W]``, floating point; any memory layout.
    f : torch.Tensor or None
        Filter from :func:`setup_filter`: ``[k]`` separable or ``[fh, fw]``;
        ``None`` means no filtering.  Treated as a constant (no gradient).
    up, down : int or (int, int)
        Up/down-sampling factors, per axis as ``(x, y)``.
    padding : int, (x, y) or [x0, x1, y0, y1]
        Padding after upsampling; negative values crop.
    flip_filter : bool
        Correlate instead of convolve.
    gain : float
        Overall signal gain.
    impl : str, optional
        ``"ref"``, ``"cpp"``, ``"cuda"``, ``"cuda_emulated"`` or ``"auto"``;
        default from ``$MEDGAN_AUG_OPS``, else ``"auto"``.

    Returns
    -------
    torch.Tensor
        ``[N, C, (H*up + pad0 + pad1 - fh) // down + 1, ...]``, in the memory
        format ``x`` suggests: ``channels_last`` for a channels-last ``x``,
        else contiguous NCHW.
    """
    check_tensor(x, "x", ndim=4, layout=" [N, C, H, W]")
    f = _check_filter(f, x)
    upx, upy = _pair(up, "up", 1)
    downx, downy = _pair(down, "down", 1)
    pad = _padding(padding)
    fw, fh = filter_size(f)
    _output_size(x.shape[3], upx, downx, pad[0], pad[1], fw, "x")
    _output_size(x.shape[2], upy, downy, pad[2], pad[3], fh, "y")
    chosen = resolve_impl(impl, x.device)
    if chosen == "ref":
        return _upfirdn2d_ref(x, f, (upx, upy), (downx, downy), pad, flip_filter, float(gain))
    return op_namespace(chosen).upfirdn2d(x, f, upx, upy, downx, downy, *pad, bool(flip_filter), float(gain))


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Pair = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str | None = None,
) -> torch.Tensor:
    """Upsample by ``up`` with interpolation filter ``f``, keeping the image centred.

    The output is ``up`` times the input size (plus ``padding``); the filter
    gain is raised by ``up_x * up_y`` so the mean intensity is preserved.
    Parameters as for :func:`upfirdn2d`.
    """
    upx, upy = _pair(up, "up", 1)
    pad = centred_padding(f, padding, up=(upx, upy))
    return upfirdn2d(x, f, up=(upx, upy), padding=pad, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    down: Pair = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str | None = None,
) -> torch.Tensor:
    """Low-pass filter with ``f`` and keep every ``down``-th pixel, keeping the image centred.

    Parameters as for :func:`upfirdn2d`.
    """
    downx, downy = _pair(down, "down", 1)
    pad = centred_padding(f, padding, down=(downx, downy))
    return upfirdn2d(x, f, down=(downx, downy), padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str | None = None,
) -> torch.Tensor:
    """Filter with ``f`` at the same resolution (output size = input size + ``padding``).

    Parameters as for :func:`upfirdn2d`.
    """
    pad = centred_padding(f, padding)
    return upfirdn2d(x, f, padding=pad, flip_filter=flip_filter, gain=gain, impl=impl)


def backward_params(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    f: torch.Tensor,
    up: tuple[int, int],
    down: tuple[int, int],
    pad: tuple[int, int, int, int],
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    """``(up, down, padding)`` of the upfirdn2d that maps ``dy`` to ``dx``.

    The adjoint of upfirdn2d is upfirdn2d itself with the factors swapped, the
    filter flipped and the padding mirrored so the output has the input's size.
    """
    (height, width), (out_h, out_w) = in_size, out_size
    (upx, upy), (downx, downy) = up, down
    padx0, _, pady0, _ = pad
    fw, fh = filter_size(f)
    grad_pad = (
        fw - padx0 - 1,
        width * upx - out_w * downx + padx0 - upx + 1,
        fh - pady0 - 1,
        height * upy - out_h * downy + pady0 - upy + 1,
    )
    return (downx, downy), (upx, upy), grad_pad


def register_operator_hooks(namespace: str) -> None:
    """Register autograd and the fake (shape) kernel of ``namespace::upfirdn2d``."""
    name = f"{namespace}::upfirdn2d"
    ops = getattr(torch.ops, namespace)

    def setup_context(ctx, inputs, output):
        x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain = inputs
        ctx.save_for_backward(f)
        ctx.memory_format = suggest_memory_format(x)
        ctx.params = (
            (x.shape[2], x.shape[3]),
            (output.shape[2], output.shape[3]),
            (upx, upy),
            (downx, downy),
            (padx0, padx1, pady0, pady1),
            flip_filter,
            gain,
        )

    def backward(ctx, dy):
        (f,) = ctx.saved_tensors
        in_size, out_size, up, down, pad, flip_filter, gain = ctx.params
        g_up, g_down, g_pad = backward_params(in_size, out_size, f, up, down, pad)
        dx = None
        if ctx.needs_input_grad[0]:
            # The op keeps its input's format: dx gets x's even if dy came in another.
            dy = dy.contiguous(memory_format=ctx.memory_format)
            dx = ops.upfirdn2d(dy, f, *g_up, *g_down, *g_pad, not flip_filter, gain)
        return (dx,) + (None,) * 11

    torch.library.register_autograd(name, backward, setup_context=setup_context)

    def fake(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain):
        fw, fh = filter_size(f)
        out_h = (x.shape[2] * upy + pady0 + pady1 - fh) // downy + 1
        out_w = (x.shape[3] * upx + padx0 + padx1 - fw) // downx + 1
        shape = (x.shape[0], x.shape[1], out_h, out_w)
        return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=suggest_memory_format(x))

    torch.library.register_fake(name, fake)
