"""Decode PNG and JPEG training images to float arrays and fit them into a square."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "RESIZE_MODES", "ResizeMode", "image_channels", "load_image", "resize_square"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg")
"""File name extensions (lower case) treated as images when scanning a folder."""

RESIZE_MODES: tuple[str, ...] = ("letterbox", "center-crop", "stretch")
"""The ways :func:`resize_square` can fit a rectangular image into a square."""

ResizeMode = Literal["letterbox", "center-crop", "stretch"]

# Grayscale modes and the value that maps to 1.0. 'I' is Pillow's 32-bit integer mode, which older Pillow
# releases (and TIFF files) use for 16-bit grayscale; its values are checked against the 16-bit range on decoding.
_GRAY_MODES: dict[str, int] = {"L": 255, "I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I": 65535}
_COLOUR_MODES = frozenset({"RGB", "RGBA", "P", "PA"})
_SUPPORTED = "L, LA, I;16, I;16B, I (16-bit values), RGB, RGBA, P, PA"


def _is_gray_alpha_16(image: Image.Image) -> bool:
    # Pillow has no 16-bit 'LA' mode: it reports 16-bit gray+alpha PNGs as 'RGBA' (gray copied into R, G and B).
    # Only the raw mode of the not yet decoded tile tells them apart from real colour images.
    return image.mode == "RGBA" and bool(image.tile) and image.tile[0][3] == "LA;16B"


def _channels_of(image: Image.Image, path: Path) -> int:
    if image.mode in _GRAY_MODES or image.mode == "LA" or _is_gray_alpha_16(image):
        return 1
    if image.mode in _COLOUR_MODES:
        return 3
    raise ValueError(f"{path}: unsupported image mode {image.mode!r} (supported: {_SUPPORTED})")


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise
    except Exception as error:
        # Pillow reports unreadable headers with several exception types (UnidentifiedImageError, SyntaxError,
        # struct.error, DecompressionBombError, ...); callers need one, naming the file.
        raise ValueError(f"{path}: cannot read image header: {error}") from error


def _decode(image: Image.Image, path: Path) -> np.ndarray:
    """The pixels of an opened image as stored (palettes expanded to RGBA), naming ``path`` if decoding fails."""
    try:
        image.load()
        # Palettes go through RGBA so that a transparency entry is dropped instead of triggering Pillow's warning.
        return np.asarray(image.convert("RGBA") if image.mode in ("P", "PA") else image)
    except Exception as error:
        raise ValueError(f"{path}: cannot decode image: {error}") from error


def image_channels(path: str | os.PathLike[str]) -> int:
    """Return the number of channels :func:`load_image` gives ``path``, reading only the file's header.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG or JPEG file.

    Returns
    -------
    int
        1 for grayscale (8- or 16-bit, with or without alpha), 3 for colour and palette images.

    Raises
    ------
    ValueError
        If the header cannot be read or the image mode is not supported.
    """
    path = Path(path)
    with _open(path) as image:
        return _channels_of(image, path)


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to a float32 ``[C, H, W]`` array in [0, 1].

    8-bit modes ('L', 'RGB') are divided by 255 and 16-bit grayscale ('I;16', 'I;16B', or 'I' holding values
    in [0, 65535]) by 65535, so black is 0 and full scale is 1. Palette images ('P', 'PA') become RGB. An
    alpha channel ('LA', 'RGBA', 16-bit gray+alpha) is dropped without compositing: fully transparent pixels
    keep their stored colour. Pillow decodes 16-bit colour PNGs to 8 bits per channel.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG or JPEG file (any format Pillow opens in a supported mode works).

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``[1, H, W]`` (grayscale) or ``[3, H, W]`` (colour).

    Raises
    ------
    ValueError
        If the file is unreadable or corrupt (the Pillow error is chained), its mode is not supported, or an
        'I' mode image holds values outside [0, 65535].
    """
    path = Path(path)
    with _open(path) as image:
        channels = _channels_of(image, path)
        pixels = _decode(image, path)
        mode = image.mode
    if mode == "I" and pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise ValueError(
            f"{path}: image mode 'I' with values in [{pixels.min()}, {pixels.max()}], outside the 16-bit range"
        )
    if channels == 1:
        # 'LA' and Pillow's 16-bit gray+alpha 'RGBA' carry the gray value in their first band.
        pixels = pixels[None] if pixels.ndim == 2 else pixels[None, :, :, 0]
    else:
        pixels = pixels[:, :, :3].transpose(2, 0, 1)
    scale = _GRAY_MODES.get(mode, 255)
    return np.ascontiguousarray(pixels, dtype=np.float32) / np.float32(scale)


def _resize(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if image.shape[1:] == (height, width):
        return image
    return F.interpolate(image[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False)[0]


def resize_square(image: torch.Tensor, size: int, mode: ResizeMode = "letterbox") -> torch.Tensor:
    """Fit a ``[C, H, W]`` image into ``[C, size, size]`` with antialiased bilinear resampling.

    Parameters
    ----------
    image : torch.Tensor
        Floating-point image of shape ``[C, H, W]``.
    size : int
        Side of the output square.
    mode : {"letterbox", "center-crop", "stretch"}
        ``"letterbox"`` scales the longer side to ``size``, keeping the aspect ratio, and pads the shorter
        one with 0 on both sides (the image is centred); ``"center-crop"`` keeps the largest centred square
        and scales it to ``size``; ``"stretch"`` scales each side to ``size`` independently.

    Returns
    -------
    torch.Tensor
        The image resized to ``[C, size, size]``; ``image`` itself when it already has that shape.
    """
    if image.ndim != 3:
        raise ValueError(f"image must have shape [C, H, W], got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating-point tensor, got {image.dtype}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}")
    channels, height, width = image.shape
    if height < 1 or width < 1:
        raise ValueError(f"image is empty: shape {tuple(image.shape)}")
    if height == size and width == size:
        return image
    if mode == "stretch":
        return _resize(image, size, size)
    if mode == "center-crop":
        # Cropping before resampling gives the same square as scaling the shorter side first, with fewer pixels
        # to filter (mammograms are thousands of pixels on a side).
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return _resize(image[:, top : top + side, left : left + side], size, size)
    longer = max(height, width)
    # Integer round-half-up of side * size / longer; at least 1 pixel so extreme aspect ratios stay visible.
    new_height = max(1, (height * size + longer // 2) // longer)
    new_width = max(1, (width * size + longer // 2) // longer)
    top, left = (size - new_height) // 2, (size - new_width) // 2
    out = image.new_zeros(channels, size, size)
    out[:, top : top + new_height, left : left + new_width] = _resize(image, new_height, new_width)
    return out
