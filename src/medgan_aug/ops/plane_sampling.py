"""Sampling 2-D planes, axis-aligned or oblique, out of 3-D volumes (``sample_planes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from ._backend import _requested, op_namespace, resolve_impl

__all__ = ["register_operator_hooks", "sample_planes", "spline_coefficients"]

ORDERS = (0, 1, 3)
# Points per chunk of the reference implementation, which bounds its
# temporaries (coordinates, taps, weights, gathers) to about 200 MB.
_REF_CHUNK_POINTS = 1 << 18

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def spline_coefficients(volume: ArrayT) -> ArrayT:
    """Cubic B-spline coefficients of ``volume`` for :func:`sample_planes` with ``order=3``.

    ``scipy.ndimage.spline_filter`` of order 3 with the whole-sample mirror
    boundary (``mode="mirror"``); it is the prefilter
    ``map_coordinates(..., mode="constant", prefilter=True)`` applies. Each
    line is filtered in double precision and stored in the volume's dtype, so
    a float32 volume needs one float32 volume more, not a float64 copy.

    Parameters
    ----------
    volume : numpy.ndarray or torch.Tensor
        ``[D0, D1, D2]`` floating-point volume (any device for a tensor).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Coefficients of the same type, shape, dtype (and device).

    Raises
    ------
    ValueError
        If ``volume`` is not 3-D, empty, or not floating point.
    TypeError
        If ``volume`` is neither an array nor a tensor.
    """
    # Imported here so that importing the operators does not load scipy.
    from scipy import ndimage

    if isinstance(volume, torch.Tensor):
        if not volume.is_floating_point():
            raise ValueError(f"volume must be floating point, got {volume.dtype}")
        array = volume.detach().cpu().numpy()
    elif isinstance(volume, np.ndarray):
        if not np.issubdtype(volume.dtype, np.floating):
            raise ValueError(f"volume must be floating point, got {volume.dtype}")
        array = volume
    else:
        raise TypeError(f"volume must be a numpy.ndarray or torch.Tensor, got {type(volume).__name__}")
    if array.ndim != 3 or array.size == 0:
        raise ValueError(f"volume must be a non-empty 3-D [D0, D1, D2] array, got shape {tuple(array.shape)}")
    coefficients = ndimage.spline_filter(array, order=3, output=array.dtype, mode="mirror")
    if isinstance(volume, torch.Tensor):
        return torch.from_numpy(coefficients).to(volume.device)
    return coefficients


def _check_size(size: object) -> tuple[int, int]:
    values = tuple(size) if isinstance(size, Sequence) else ()
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"size must be a (height, width) pair of ints, got {size!r}")
    if min(values) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return int(values[0]), int(values[1])


def _check_geometry(tensor: object, name: str, shape: str, dims: tuple[int, ...], device: torch.device) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim != len(dims) + 1 or tuple(tensor.shape[1:]) != dims:
        raise ValueError(f"{name} must be {shape}, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {tensor.dtype}")
    tensor = tensor.detach().to(device=device, dtype=torch.float64)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return tensor


def _choose_impl(impl: str | None, device: torch.device) -> str:
    requested = _requested(impl)
    if requested in ("cuda", "cuda_emulated"):
        if impl is not None:
            raise ValueError(f"impl={impl!r}: sample_planes has no CUDA kernel; use 'ref', 'cpp' or 'auto'")
        # $MEDGAN_AUG_OPS forces a CUDA kernel for every op; this one has none.
        requested = "auto"
    if requested == "auto" and device.type != "cpu":
        return "ref"
    return resolve_impl(requested, device)


def _mirror(index: torch.Tensor, n: int) -> torch.Tensor:
    """Whole-sample mirror of tap indices into ``[0, n - 1]``."""
    if n == 1:
        return torch.zeros_like(index)
    period = 2 * n - 2
    index = torch.remainder(index, period)
    return torch.where(index < n, index, period - index)


def _axis_stencil(x: torch.Tensor, order: int, n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Mirrored tap indices and weights along one axis for coordinates ``x`` (all inside)."""
    if order == 0:
        return [torch.floor(x + 0.5).long()], [torch.ones_like(x)]
    first = torch.floor(x)
    t = x - first
    first = first.long()
    if order == 1:
        weights = [1 - t, t]
    else:
        u = 1 - t
        weights = [u**3 / 6, 2 / 3 - t**2 + t**3 / 2, 2 / 3 - u**2 + u**3 / 2, t**3 / 6]
        first = first - 1
    return [_mirror(first + j, n) for j in range(order + 1)], weights


def _sample_planes_ref(
    volume: torch.Tensor, origins: torch.Tensor, steps: torch.Tensor, size: tuple[int, int], order: int, fill: float
) -> torch.Tensor:
    """sample_planes as vectorised gathers, accumulated in float64, chunk by chunk of planes."""
    height, width = size
    device = volume.device
    flat = volume.reshape(-1)
    dims = volume.shape
    strides = (dims[1] * dims[2], dims[2], 1)
    rows = torch.arange(height, dtype=torch.float64, device=device)[:, None, None]
    cols = torch.arange(width, dtype=torch.float64, device=device)[None, :, None]
    upper = torch.tensor([n - 1 for n in dims], dtype=torch.float64, device=device)
    out = torch.empty(origins.shape[0], height, width, dtype=volume.dtype, device=device)
    chunk = max(1, _REF_CHUNK_POINTS // (height * width))
    for start in range(0, origins.shape[0], chunk):
        o = origins[start : start + chunk, None, None, :]
        s = steps[start : start + chunk, :, None, None, :]
        # Same evaluation order as the C++ kernel: the row's start, then the column.
        points = (o + rows * s[:, 0]) + cols * s[:, 1]
        inside = ((points >= 0) & (points <= upper)).all(dim=-1)
        # Outside points get `fill`; zeroing them keeps their taps harmless.
        points = torch.where(inside[..., None], points, 0.0)
        stencils = [_axis_stencil(points[..., k], order, dims[k]) for k in range(3)]
        total = torch.zeros(points.shape[:-1], dtype=torch.float64, device=device)
        for i0, w0 in zip(*stencils[0], strict=True):
            for i1, w1 in zip(*stencils[1], strict=True):
                partial = torch.zeros_like(total)
                offset = i0 * strides[0] + i1 * strides[1]
                for i2, w2 in zip(*stencils[2], strict=True):
                    partial += w2 * flat[offset + i2].double()
                total += w0 * w1 * partial
        out[start : start + chunk] = torch.where(inside, total, fill).to(volume.dtype)
    return out


def sample_planes(
    volume: torch.Tensor,
    origins: torch.Tensor,
    steps: torch.Tensor,
    size: tuple[int, int],
    order: int = 1,
    fill: float = 0.0,
    impl: str | None = None,
) -> torch.Tensor:
    """Sample a volume on a batch of (possibly oblique) planes of points.

    Point ``(p, r, c)`` of the output is the voxel index coordinate
    ``origins[p] + r * steps[p, 0] + c * steps[p, 1]`` (along axes 0, 1, 2),
    and its value equals, up to rounding, what ``scipy.ndimage.map_coordinates(
    volume, coords, order=order, mode="constant", cval=fill, prefilter=True)``
    gives in float64 (for ``order=3``, on the volume whose coefficients are
    passed).  The rules, as scipy applies them:

    - A point is *inside* when ``0 <= x_k <= n_k - 1`` along every axis
      ``k``, with no tolerance; every other point gets ``fill``.  There is no
      blending towards ``fill`` near the edges.
    - ``order=0`` takes voxel ``floor(x + 0.5)`` (halves round up).
    - ``order=1`` (trilinear) and ``order=3`` (cubic B-spline) use the taps
      ``floor(x) .. floor(x) + 1`` and ``floor(x) - 1 .. floor(x) + 2``;
      taps past an edge read the whole-sample mirror of the volume
      (index ``-1`` reads ``1``, ``n`` reads ``n - 2``).

    Not differentiable: the inputs are used detached and the result never
    requires grad.

    Parameters
    ----------
    volume : torch.Tensor
        ``[D0, D1, D2]`` float32 or float64 volume; for ``order=3`` its cubic
        B-spline coefficients (see :func:`spline_coefficients`).
    origins : torch.Tensor
        ``[P, 3]`` index coordinate of pixel ``(0, 0)`` of each plane; any
        float dtype (used as float64).
    steps : torch.Tensor
        ``[P, 2, 3]``: ``steps[p, 0]`` is the index-space displacement per
        output row, ``steps[p, 1]`` per output column (used as float64).
    size : (int, int)
        ``(H, W)`` of every plane.
    order : {0, 1, 3}
        Nearest, trilinear or cubic B-spline interpolation.
    fill : float
        Value of the points outside the volume.
    impl : str, optional
        ``"ref"`` (pure PyTorch, any device), ``"cpp"`` (C++ CPU kernel) or
        ``"auto"``; default from ``$MEDGAN_AUG_OPS``, else ``"auto"``, which
        picks ``cpp`` for CPU tensors and ``ref`` otherwise (there is no CUDA
        kernel).

    Returns
    -------
    torch.Tensor
        ``[P, H, W]`` samples in ``volume``'s dtype and on its device.

    Raises
    ------
    ValueError
        For a volume that is not a non-empty 3-D float32/float64 tensor,
        origins or steps of the wrong shape, P mismatch or non-finite values,
        a bad ``size`` or ``order``, or an ``impl`` with no kernel here.
    TypeError
        If ``volume``, ``origins`` or ``steps`` is not a tensor.
    """
    if not isinstance(volume, torch.Tensor):
        raise TypeError(f"volume must be a torch.Tensor, got {type(volume).__name__}")
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D [D0, D1, D2], got shape {tuple(volume.shape)}")
    if volume.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"volume must be float32 or float64, got {volume.dtype}")
    if volume.numel() == 0:
        raise ValueError(f"volume must not be empty, got shape {tuple(volume.shape)}")
    origins = _check_geometry(origins, "origins", "[P, 3]", (3,), volume.device)
    steps = _check_geometry(steps, "steps", "[P, 2, 3]", (2, 3), volume.device)
    if steps.shape[0] != origins.shape[0]:
        raise ValueError(f"steps has {steps.shape[0]} planes but origins has {origins.shape[0]}")
    height, width = _check_size(size)
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or order not in ORDERS:
        raise ValueError(f"order must be 0, 1 or 3, got {order!r}")
    volume = volume.detach().contiguous()
    chosen = _choose_impl(impl, volume.device)
    if chosen == "ref":
        return _sample_planes_ref(volume, origins, steps, (height, width), int(order), float(fill))
    return op_namespace(chosen).sample_planes(volume, origins, steps, height, width, int(order), float(fill))


def register_operator_hooks(namespace: str) -> None:
    """Register the fake (shape) kernel of ``namespace::sample_planes``.

    The samples are not differentiable, so there is no autograd formula; the
    fake kernel lets ``torch.compile`` and meta tensors trace through it.
    """

    def fake(volume, origins, steps, height, width, order, fill):
        return volume.new_empty(origins.shape[0], height, width)

    torch.library.register_fake(f"{namespace}::sample_planes", fake)
