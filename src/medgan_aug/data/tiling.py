"""Cutting large 2-D images into fixed-size, optionally overlapping tiles."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["PAD_MODES", "PadMode", "Tile", "tile_grid", "tile_image"]

PadMode = Literal["reflect", "zero"]
PAD_MODES: tuple[str, ...] = ("reflect", "zero")
"""How the bottom and right edges are filled when the image is not a whole number of tiles."""


@dataclass(frozen=True)
class Tile:
    """One tile of an image.

    Attributes
    ----------
    row, col : int
        Position in the tile grid.
    top, left : int
        Pixel position of the tile's corner in the (unpadded) image.
    image : numpy.ndarray
        ``[tile, tile]`` or ``[tile, tile, C]`` pixels.
    foreground : float or None
        Fraction of the tile's pixels that are foreground in the mask, padding counted as background; None
        without a mask.
    mask : numpy.ndarray or None
        bool ``[tile, tile]`` foreground of the tile, padded as the image is (background for ``"zero"``, the
        mirrored mask for ``"reflect"``) so that it stays aligned with the image's pixels; None without a mask.
    """

    row: int
    col: int
    top: int
    left: int
    image: np.ndarray
    foreground: float | None
    mask: np.ndarray | None = None


def tile_grid(length: int, tile: int, overlap: int = 0) -> list[int]:
    """Start positions of tiles of ``tile`` pixels with ``overlap`` covering ``length`` pixels.

    The stride is ``tile - overlap``; the last tile may run past the end (the image is padded there).

    Parameters
    ----------
    length : int
        Image size along one axis.
    tile : int
        Tile size.
    overlap : int
        Pixels shared by neighbouring tiles, in [0, tile).

    Returns
    -------
    list of int
        Tile start positions.
    """
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile={tile}), got {overlap}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    stride = tile - overlap
    count = max(1, math.ceil((length - overlap) / stride))
    return [i * stride for i in range(count)]


def _pad(array: np.ndarray, height: int, width: int, mode: PadMode) -> np.ndarray:
    pad = [(0, height - array.shape[0]), (0, width - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    if mode == "zero":
        return np.pad(array, pad)
    # numpy's reflect mode mirrors repeatedly when the padding exceeds the image.
    return np.pad(array, pad, mode="reflect") if min(array.shape[:2]) > 1 else np.pad(array, pad, mode="edge")


def tile_image(
    image: np.ndarray,
    tile: int,
    overlap: int = 0,
    *,
    pad: PadMode = "reflect",
    mask: np.ndarray | None = None,
    min_foreground: float = 0.0,
) -> list[Tile]:
    """Cut ``image`` into ``tile x tile`` tiles, dropping those with too little foreground.

    Parameters
    ----------
    image : numpy.ndarray
        ``[H, W]`` or ``[H, W, C]`` image.
    tile : int
        Tile size in pixels.
    overlap : int
        Pixels shared by neighbouring tiles.
    pad : {"reflect", "zero"}
        Filling beyond the bottom and right edges when the image is not a whole number of tiles.
    mask : numpy.ndarray, optional
        ``[H, W]`` foreground mask (non-zero = foreground). Padding counts as background in the foreground
        fraction; each tile's :attr:`Tile.mask` is padded like the image.
    min_foreground : float
        Keep only tiles whose foreground fraction is at least this (needs ``mask`` when > 0).

    Returns
    -------
    list of Tile
        Tiles in row-major grid order.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape [H, W] or [H, W, C], got {image.shape}")
    if pad not in PAD_MODES:
        raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
    if not 0.0 <= min_foreground <= 1.0:
        raise ValueError(f"min_foreground must be in [0, 1], got {min_foreground}")
    if mask is not None and mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image's {image.shape[:2]}")
    if mask is None and min_foreground > 0:
        raise ValueError("min_foreground > 0 needs a mask")
    height, width = image.shape[:2]
    tops, lefts = tile_grid(height, tile, overlap), tile_grid(width, tile, overlap)
    padded = _pad(image, tops[-1] + tile, lefts[-1] + tile, pad)
    foreground = padded_mask = None
    if mask is not None:
        foreground = _pad(mask != 0, tops[-1] + tile, lefts[-1] + tile, "zero")
        padded_mask = foreground if pad == "zero" else _pad(mask != 0, tops[-1] + tile, lefts[-1] + tile, pad)
    tiles = []
    for row, top in enumerate(tops):
        for col, left in enumerate(lefts):
            window = (slice(top, top + tile), slice(left, left + tile))
            fraction = tile_mask = None
            if foreground is not None and padded_mask is not None:
                fraction = float(foreground[window].mean())
                if fraction < min_foreground:
                    continue
                tile_mask = padded_mask[window].copy()
            tiles.append(Tile(row, col, top, left, padded[window].copy(), fraction, tile_mask))
    return tiles
