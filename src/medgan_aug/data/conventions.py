"""Conversions between the pixel ranges and label encodings the library's objects use.

Generators, :class:`~medgan_aug.data.ImageFolderDataset` and the self-training pools give images in [-1, 1];
files, :func:`~medgan_aug.data.load_image` and :class:`~medgan_aug.data.VolumeSlicer` planes are in [0, 1].
Datasets for GAN training give one-hot float labels; classifiers take class indices.  The table in the user
guide (:doc:`/guide/data`) lists every object.
"""

from __future__ import annotations

import torch

__all__ = ["class_index", "one_hot", "signed_to_unit", "unit_to_signed"]


def _check_float(images: torch.Tensor, name: str) -> None:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        kind = f"a {images.dtype} tensor" if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"{name} must be a floating-point tensor, got {kind} (8-bit images: divide by 255 first)")


def unit_to_signed(images: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] to [-1, 1] (``2 x - 1``), the range generators and GAN datasets use.

    Parameters
    ----------
    images : torch.Tensor
        Floating point, every value in [0, 1].

    Returns
    -------
    torch.Tensor
        Same shape and dtype.

    Raises
    ------
    ValueError
        If a value lies outside [0, 1]: such images are in another range (0-255 levels, or [-1, 1] already),
        and converting them would silently give wrong pixels.
    """
    _check_float(images, "images")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"images must lie in [0, 1], got values in [{images.min().item():g}, {images.max().item():g}]; "
            "8-bit levels need dividing by 255, and images in [-1, 1] need no conversion"
        )
    return images * 2 - 1


def signed_to_unit(images: torch.Tensor) -> torch.Tensor:
    """Map images in [-1, 1] to [0, 1] (``x / 2 + 1/2``, clipped), as :func:`~medgan_aug.generate.synthesize` does.

    Parameters
    ----------
    images : torch.Tensor
        Floating point; generator outputs may overshoot [-1, 1] a little, which is clipped.

    Returns
    -------
    torch.Tensor
        Same shape and dtype, in [0, 1].
    """
    _check_float(images, "images")
    return (images * 0.5 + 0.5).clamp(0, 1)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class indices ``[N]`` to float32 one-hot rows ``[N, num_classes]``, the labels GAN datasets give.

    Parameters
    ----------
    labels : torch.Tensor
        Integer class indices, each in ``[0, num_classes)``.
    num_classes : int
        Number of classes, >= 1.

    Returns
    -------
    torch.Tensor
        float32 ``[N, num_classes]``.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex() or labels.ndim != 1:
        raise TypeError("labels must be a 1-D integer tensor of class indices")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}], got values in [{labels.min().item()}, {labels.max().item()}]"
        )
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()


def class_index(labels: torch.Tensor) -> torch.Tensor:
    """One-hot (or class-probability) rows ``[N, K]`` to int64 class indices ``[N]``, the labels classifiers take.

    Parameters
    ----------
    labels : torch.Tensor
        ``[N, K]`` floating point (the index of each row's largest value, the first on ties), or ``[N]``
        integer indices, returned as int64.

    Returns
    -------
    torch.Tensor
        int64 ``[N]``.
    """
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a tensor, got {type(labels).__name__}")
    if labels.ndim == 2 and labels.is_floating_point() and labels.shape[1] >= 1:
        return labels.argmax(dim=1)
    if labels.ndim == 1 and not labels.is_floating_point() and not labels.is_complex():
        return labels.long()
    raise ValueError(
        f"labels must be [N, K] one-hot floats or [N] integer indices, got a {labels.dtype} tensor of shape "
        f"{tuple(labels.shape)}"
    )
