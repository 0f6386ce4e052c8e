"""Line plots as PNG files, for the reports of training and self-training."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ._files import atomic_write

__all__ = ["plot_curves"]

_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189)]


def plot_curves(
    path: str | os.PathLike[str],
    x: Sequence[float],
    curves: dict[str, Sequence[float | None]],
    title: str,
    size: tuple[int, int] = (640, 360),
    spread: dict[str, Sequence[Sequence[float]]] | None = None,
) -> None:
    """Write a PNG line plot of ``curves`` against ``x`` (missing values skipped), with a legend.

    ``spread`` gives, for some curves, the individual values behind each point (e.g. one per seed): they are drawn
    as dots in the curve's colour with a bar from the lowest to the highest.
    """
    spread = spread or {}
    width, height = size
    left, right, top, bottom = 60, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    values = [v for ys in curves.values() for v in ys if v is not None and math.isfinite(v)]
    values += [v for per_x in spread.values() for vs in per_x for v in vs if math.isfinite(v)]
    x = list(x)
    if not values or len(x) < 1:
        draw.text((left, top), f"{title}: no data yet", fill="black")
        atomic_write(path, lambda f: image.save(f, format="PNG"))
        return
    y0, y1 = min(values), max(values)
    if y0 == y1:
        y0, y1 = y0 - 1, y1 + 1
    x0, x1 = min(x), max(x)
    if x0 == x1:
        x1 = x0 + 1
    # Dots sit beside their point, one column per curve, with room on both sides so none hides in the frame.
    step = min((b - a for a, b in zip(sorted(x), sorted(x)[1:], strict=False) if b > a), default=x1 - x0)
    if spread:
        x0, x1 = x0 - step / 2, x1 + step / 2
    nudges = {name: (i - (len(spread) - 1) / 2) * 0.1 * step for i, name in enumerate(spread)}

    def to_px(xv: float, yv: float) -> tuple[float, float]:
        px = left + (xv - x0) / (x1 - x0) * (width - left - right)
        py = height - bottom - (yv - y0) / (y1 - y0) * (height - top - bottom)
        return px, py

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for frac in np.linspace(0, 1, 5):
        yv = y0 + frac * (y1 - y0)
        _, py = to_px(x0, yv)
        draw.line([left - 4, py, left, py], fill="black")
        draw.text((4, py - 6), f"{yv:.3g}", fill="black")
        xv = x0 + frac * (x1 - x0)
        px, _ = to_px(xv, y0)
        draw.line([px, height - bottom, px, height - bottom + 4], fill="black")
        draw.text((px - 12, height - bottom + 8), f"{xv:.3g}", fill="black")
    draw.text((left, 8), title, fill="black")
    for i, (name, ys) in enumerate(curves.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [to_px(xv, yv) for xv, yv in zip(x, ys, strict=True) if yv is not None and math.isfinite(yv)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        elif points:
            draw.ellipse([points[0][0] - 2, points[0][1] - 2, points[0][0] + 2, points[0][1] + 2], fill=colour)
        for xv, individual in zip(x, spread.get(name, ()), strict=False):
            dots = [to_px(xv + nudges[name], v) for v in individual if math.isfinite(v)]
            if len(dots) > 1:
                draw.line([dots[0][0], min(p[1] for p in dots), dots[0][0], max(p[1] for p in dots)], fill=colour)
            for px, py in dots:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], outline=colour)
        draw.text((width - right - 150, top + 6 + 14 * i), name, fill=colour)
    atomic_write(path, lambda f: image.save(f, format="PNG"))
