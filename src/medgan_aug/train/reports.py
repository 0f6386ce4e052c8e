"""What a training run writes besides checkpoints: per-tick statistics, sample grids and plots."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import torch
from PIL import Image

from .._files import atomic_write
from ..plots import plot_curves

__all__ = ["append_stats", "plot_curves", "read_stats", "save_image_grid"]


def append_stats(path: str | os.PathLike[str], row: dict[str, Any]) -> None:
    """Append one JSON line (a tick's statistics) and flush it to disk."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_stats(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All rows of a ``stats.jsonl`` (a torn last line, from a crash mid-write, is skipped)."""
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def save_image_grid(images: torch.Tensor, path: str | os.PathLike[str], columns: int) -> None:
    """Write images ``[N, C, H, W]`` in [-1, 1] as one 8-bit PNG grid, ``columns`` wide."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    grid = torch.zeros(rows * columns, c, h, w, dtype=torch.uint8)
    grid[:n] = pixels
    grid = grid.reshape(rows, columns, c, h, w).permute(0, 3, 1, 4, 2).reshape(rows * h, columns * w, c).numpy()
    mode = "L" if c == 1 else "RGB"
    image = Image.fromarray(grid[:, :, 0] if c == 1 else grid, mode=mode)
    atomic_write(path, lambda f: image.save(f, format="PNG"))
