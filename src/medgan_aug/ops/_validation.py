"""Argument checks shared by the operators: clear errors that name the argument."""

from __future__ import annotations

import torch

__all__ = ["check_tensor"]


def check_tensor(
    tensor: object,
    name: str,
    *,
    ndim: int | None = None,
    layout: str = "",
    device: torch.device | None = None,
) -> None:
    """Check that ``tensor`` is a non-empty floating-point tensor.

    Parameters
    ----------
    tensor : object
        The argument to check.
    name : str
        Its name in error messages.
    ndim : int, optional
        Required number of dimensions.
    layout : str
        Shown after the rank in the error, e.g. ``" [N, C, H, W]"``.
    device : torch.device, optional
        Device of ``x``, which ``tensor`` must share.

    Raises
    ------
    TypeError
        Not a tensor, or not floating point.
    ValueError
        Wrong rank, no elements, or on another device than ``x``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
    if ndim is not None and tensor.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D{layout}, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(tensor.shape)}")
    if device is not None and tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device} but x is on {device}")
