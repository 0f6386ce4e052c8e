"""Batches of homogeneous transformation matrices (2-D for geometry, 3-D for colour).

Every function takes per-sample values as tensors of shape ``[N]`` (or
numbers, broadcast to the batch) and returns ``[N, 3, 3]`` or ``[N, 4, 4]``.
"""

from __future__ import annotations

import torch

__all__ = ["rotate2d", "rotate3d", "scale2d", "scale3d", "translate2d", "translate3d"]

Value = torch.Tensor | float


def _matrix(rows: list[list[Value]], like: torch.Tensor) -> torch.Tensor:
    """Stack a nested list of per-sample values and constants into ``[N, k, k]``."""
    batch = like.shape[0]

    def column(value: Value) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.to(like.dtype).expand(batch)
        return torch.full([batch], float(value), dtype=like.dtype, device=like.device)

    return torch.stack([torch.stack([column(v) for v in row], dim=-1) for row in rows], dim=-2)


def translate2d(tx: torch.Tensor, ty: Value) -> torch.Tensor:
    """``[[1, 0, tx], [0, 1, ty], [0, 0, 1]]``."""
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: torch.Tensor, sy: Value) -> torch.Tensor:
    """``diag(sx, sy, 1)``."""
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotation by the angle with the given cosine and sine (counter-clockwise in x-right, y-up axes)."""
    return _matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], cos)


def translate3d(tx: torch.Tensor, ty: Value, tz: Value) -> torch.Tensor:
    """Translation of (x, y, z) by (tx, ty, tz)."""
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], tx)


def scale3d(sx: torch.Tensor, sy: Value, sz: Value) -> torch.Tensor:
    """``diag(sx, sy, sz, 1)``."""
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], sx)


def rotate3d(axis: tuple[float, float, float], theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` around the unit vector ``axis`` (Rodrigues' formula)."""
    x, y, z = axis
    s, c = theta.sin(), theta.cos()
    k = 1 - c
    return _matrix(
        [
            [x * x * k + c, x * y * k - z * s, x * z * k + y * s, 0],
            [y * x * k + z * s, y * y * k + c, y * z * k - x * s, 0],
            [z * x * k - y * s, z * y * k + x * s, z * z * k + c, 0],
            [0, 0, 0, 1],
        ],
        theta,
    )
