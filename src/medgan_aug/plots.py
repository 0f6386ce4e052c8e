"""Line plots and confusion matrices as PNG files, for the reports of training and self-training.

They are drawn with matplotlib, an optional dependency (``pip install 'medgan-aug[plots]'``); without it the
functions write nothing and return None, and the numbers stay in the JSON and CSV files beside them.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["PLOTS_MISSING", "plot_confusion", "plot_curves", "plotting_available"]

PLOTS_MISSING = "matplotlib is not installed (pip install 'medgan-aug[plots]')"
"""Why no plot was written, for the notes of the callers."""

_DPI = 100


def plotting_available() -> bool:
    """Whether matplotlib can be imported, so that the plotting functions write files."""
    return importlib.util.find_spec("matplotlib") is not None


def _figure(size: tuple[int, int]) -> Figure:
    # A bare Figure, not pyplot: no global figure registry, no GUI backend, safe beside other threads' plots.
    from matplotlib.figure import Figure

    return Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI, layout="constrained")


def _save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    atomic_write(path, lambda f: figure.savefig(f, format="png"))
    return Path(path)


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def plot_curves(
    path: str | os.PathLike[str],
    x: Sequence[float],
    curves: dict[str, Sequence[float | None]],
    title: str,
    size: tuple[int, int] = (640, 360),
    spread: dict[str, Sequence[Sequence[float]]] | None = None,
) -> Path | None:
    """Write a PNG line plot of ``curves`` against ``x`` (missing and non-finite values skipped), with a legend.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG, written atomically.
    x : sequence of float
        The abscissae shared by all curves.
    curves : dict of str to sequence of float or None
        Name -> one value per ``x`` (None where there is none).
    title : str
        Title of the plot.
    size : (int, int)
        Width and height in pixels.
    spread : dict of str to sequence of sequence of float, optional
        For some curves, the individual values behind each point (e.g. one per seed): drawn as open dots in the
        curve's colour with a bar from the lowest to the highest, beside the point so that curves do not hide
        each other's.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when matplotlib is not installed (nothing is written).
    """
    if not plotting_available():
        return None
    spread = spread or {}
    x = [float(v) for v in x]
    figure = _figure(size)
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=10)
    steps = np.diff(sorted(set(x)))
    step = float(steps.min()) if len(steps) else 1.0
    drawn = False
    for i, (name, ys) in enumerate(curves.items()):
        colour = f"C{i % 10}"
        points = [(xv, float(yv)) for xv, yv in zip(x, ys, strict=True) if yv is not None and math.isfinite(yv)]
        if points:
            xs, values = zip(*points, strict=True)
            axes.plot(xs, values, color=colour, label=name, marker="o" if len(points) == 1 else None, linewidth=1.5)
            drawn = True
        if name in spread:
            nudge = (list(spread).index(name) - (len(spread) - 1) / 2) * 0.1 * step
            for xv, individual in zip(x, spread[name], strict=False):
                values = _finite(individual)
                if values:
                    axes.vlines(xv + nudge, min(values), max(values), color=colour, linewidth=1)
                    axes.scatter([xv + nudge] * len(values), values, s=14, facecolors="none", edgecolors=colour)
                    drawn = True
    if x and all(v.is_integer() for v in x):
        # Runs, rounds, ticks: no ticks between them.
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if drawn:
        axes.legend(fontsize=8, loc="best")
        axes.grid(alpha=0.3)
    else:
        axes.text(0.5, 0.5, "no data yet", transform=axes.transAxes, ha="center", va="center")
    return _save(figure, path)


def plot_confusion(
    path: str | os.PathLike[str],
    confusion: np.ndarray,
    class_names: Sequence[str],
    title: str = "",
    *,
    normalise: bool = True,
) -> Path | None:
    """Write a confusion matrix as a PNG: each cell's count and share of its true class, shaded.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG, written atomically.
    confusion : numpy.ndarray
        ``[K, K]`` counts, rows true and columns predicted classes.
    class_names : sequence of str
        The ``K`` class names.
    title : str
        Title of the plot.
    normalise : bool
        Shade each cell by its share of the true class (row); otherwise by its count relative to the largest cell.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None when matplotlib is not installed (nothing is written).
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    k = len(class_names)
    if confusion.shape != (k, k):
        raise ValueError(f"confusion must be [{k}, {k}] for {k} class names, got {list(confusion.shape)}")
    if not plotting_available():
        return None
    totals = confusion.sum(axis=1, keepdims=True)
    shares = np.divide(confusion, totals, out=np.zeros(confusion.shape), where=totals > 0)
    shade = shares if normalise else confusion / max(int(confusion.max()), 1)
    # Inches: a cell of 0.9 each way, room for the longest name beside and (slanted) below the matrix.
    name_room = 0.075 * max(len(name) for name in class_names)
    figure = _figure((int((1.6 + 0.9 * k + name_room) * _DPI), int((1.4 + 0.9 * k + 0.6 * name_room) * _DPI)))
    axes = figure.add_subplot()
    axes.imshow(shade, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            colour = "white" if shade[i, j] > 0.5 else "black"
            axes.text(j, i, f"{confusion[i, j]}\n{100 * shares[i, j]:.1f}%", ha="center", va="center", color=colour)
    axes.set_xticks(range(k), list(class_names), rotation=30, ha="right")
    axes.set_yticks(range(k), list(class_names))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    shading = "shaded by share of the true class" if normalise else "shaded by count"
    axes.set_title(f"{title}\n({shading})" if title else shading, fontsize=10)
    return _save(figure, path)
