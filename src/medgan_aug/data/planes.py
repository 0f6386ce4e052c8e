"""Where the 2-D planes of a volume lie: named views, oblique tilts and slice positions in physical space.

Geometry is computed in the volume's own physical frame: millimetres along its three index axes, which
:class:`~medgan_aug.data.Volume` guarantees to be orthogonal. A plane laid out in millimetres there is undistorted
whatever the voxel spacing, and :func:`plane_stack` converts it to the voxel-index coordinates the sampler needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_VIEWS",
    "TILT_AXES",
    "PlaneStack",
    "TiltAxis",
    "ViewAxes",
    "parse_angles",
    "plane_stack",
    "resolve_views",
]

TiltAxis = Literal["rows", "cols"]
TILT_AXES: tuple[str, ...] = ("rows", "cols")
"""In-plane axes an oblique plane can be tilted about: the image's vertical (``rows``) or horizontal one."""

# Tilts of +-90 degrees turn a view into another one; clinical oblique sweeps stay well inside.
MAX_TILT_DEGREES = 90.0


@dataclass(frozen=True)
class ViewAxes:
    """How a view's images are laid out on the volume's index axes.

    Parameters
    ----------
    normal : int
        Index axis the view's slices are stacked along.
    rows : int
        Index axis that runs down the image.
    cols : int
        Index axis that runs across the image.
    flip_rows, flip_cols : bool
        Run the image's rows (or columns) from the high end of their axis to the low end, e.g. so that
        superior is at the top of a coronal image when the axis points up.
    """

    normal: int
    rows: int
    cols: int
    flip_rows: bool = False
    flip_cols: bool = False

    def __post_init__(self) -> None:
        if sorted((self.normal, self.rows, self.cols)) != [0, 1, 2]:
            raise ValueError(
                f"normal, rows and cols must be the index axes 0, 1 and 2 in some order, "
                f"got {self.normal}, {self.rows}, {self.cols}"
            )


DEFAULT_VIEWS: dict[str, ViewAxes] = {
    "axial": ViewAxes(normal=2, rows=1, cols=0),
    "coronal": ViewAxes(normal=1, rows=2, cols=0, flip_rows=True),
    "sagittal": ViewAxes(normal=0, rows=2, cols=1, flip_rows=True),
    "axis0": ViewAxes(normal=0, rows=1, cols=2),
    "axis1": ViewAxes(normal=1, rows=0, cols=2),
    "axis2": ViewAxes(normal=2, rows=0, cols=1),
}
"""Views known by name. Axial/coronal/sagittal assume an RAS- or LPS-like axis order (x, y, z); scanners that store
their axes differently are mapped with ``view_axes``; ``axisK`` slices along index axis K whatever it means."""


def resolve_views(views: Sequence[str], view_axes: Mapping[str, ViewAxes] | None = None) -> dict[str, ViewAxes]:
    """Look up view names in ``view_axes`` (which overrides and extends :data:`DEFAULT_VIEWS`).

    Parameters
    ----------
    views : sequence of str
        View names, e.g. ``("coronal", "sagittal")``.
    view_axes : mapping, optional
        Extra or replacement views.

    Returns
    -------
    dict
        ``name -> ViewAxes`` in the order of ``views``.
    """
    known = {**DEFAULT_VIEWS, **(view_axes or {})}
    if isinstance(views, str) or not views:
        raise ValueError(f"views must be a non-empty sequence of view names, got {views!r}")
    if len(set(views)) != len(views):
        raise ValueError(f"views lists a view twice: {list(views)}")
    unknown = [name for name in views if name not in known]
    if unknown:
        raise ValueError(f"views: unknown view(s) {unknown}; known: {sorted(known)} (add more with view_axes)")
    return {name: known[name] for name in views}


def parse_angles(text: str) -> list[float]:
    """Parse ``"START:STOP:STEP"`` (inclusive STOP, e.g. ``"-20:20:5"``) or a comma list (``"-10,0,10"``).

    Parameters
    ----------
    text : str
        The angle specification in degrees.

    Returns
    -------
    list of float
        The angles in degrees.
    """
    try:
        if ":" not in text:
            return [float(part) for part in text.split(",")]
        start, stop, step = (float(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"angles: expected START:STOP:STEP or a comma-separated list, got {text!r}") from None
    if step <= 0 or stop < start:
        raise ValueError(f"angles: {text!r} needs STEP > 0 and STOP >= START")
    count = math.floor((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 9) for i in range(count)]


@dataclass(frozen=True)
class PlaneStack:
    """Planes of one view at one tilt, in voxel-index coordinates, ready for :func:`medgan_aug.ops.sample_planes`.

    Attributes
    ----------
    origins : numpy.ndarray
        ``[P, 3]`` index coordinates of each plane's pixel (0, 0).
    steps : numpy.ndarray
        ``[P, 2, 3]`` index displacement per image row (``[:, 0]``) and per column (``[:, 1]``).
    slice_indices : numpy.ndarray
        ``[P]`` position of each plane in the view's slice sequence (0 .. ``num_slices`` - 1).
    num_slices : int
        Length of the full slice sequence along the (tilted) normal.
    centers_mm : numpy.ndarray
        ``[P, 3]`` physical position (mm in the volume's frame, from voxel (0, 0, 0)) of each plane's centre.
    pixel_size : float
        Output pixel size in mm.
    """

    origins: np.ndarray
    steps: np.ndarray
    slice_indices: np.ndarray
    num_slices: int
    centers_mm: np.ndarray
    pixel_size: float


def _tilted_frame(axes: ViewAxes, angle: float, tilt_axis: TiltAxis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit row, column and normal vectors (physical frame) of ``axes`` tilted by ``angle`` degrees."""
    eye = np.eye(3)
    down = eye[axes.rows] * (-1.0 if axes.flip_rows else 1.0)
    across = eye[axes.cols] * (-1.0 if axes.flip_cols else 1.0)
    normal = eye[axes.normal]
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    if tilt_axis == "rows":
        # Rotating about the image's vertical axis swings the horizontal axis towards the normal.
        across, normal = c * across + s * normal, c * normal - s * across
    else:
        down, normal = c * down + s * normal, c * normal - s * down
    return down, across, normal


def _default_pixel_size(shape: Sequence[int], spacing: np.ndarray, axes: ViewAxes, size: tuple[int, int]) -> float:
    """Pixel size (mm) that fits the view's untilted field of view into ``size``."""
    extent_rows = shape[axes.rows] * spacing[axes.rows]
    extent_cols = shape[axes.cols] * spacing[axes.cols]
    return max(extent_rows / size[0], extent_cols / size[1])


def plane_stack(
    shape: Sequence[int],
    spacing: Sequence[float] | np.ndarray,
    axes: ViewAxes,
    angle: float = 0.0,
    *,
    tilt_axis: TiltAxis = "rows",
    size: tuple[int, int] = (256, 256),
    pixel_size: float | None = None,
    slice_indices: Sequence[int] | np.ndarray | None = None,
    slice_spacing: float | None = None,
) -> PlaneStack:
    """Lay out the slices of one view, tilted by ``angle`` about an in-plane axis, through the volume's centre.

    Slice ``k`` of ``n`` (``n`` = the volume's size along the view's normal axis) lies at
    ``(k - (n - 1) / 2) * slice_spacing`` mm from the centre along the tilted normal, so every tilt has the same
    slice sequence as the untilted view, and image pixel ``(i, j)`` of an ``H x W`` image at
    ``(i - (H - 1) / 2) * pixel_size`` down and ``(j - (W - 1) / 2) * pixel_size`` across from the slice's centre.

    Parameters
    ----------
    shape : sequence of int
        Volume size along index axes 0, 1, 2.
    spacing : sequence of float
        Voxel spacing (mm) along index axes 0, 1, 2.
    axes : ViewAxes
        The view.
    angle : float
        Tilt in degrees, in (-90, 90).
    tilt_axis : {"rows", "cols"}
        In-plane axis to tilt about: the image's vertical axis (``"rows"``) or horizontal one (``"cols"``).
    size : tuple of int
        Output image ``(height, width)``.
    pixel_size : float, optional
        Output pixel size in mm; default: the untilted view's field of view fitted into ``size``.
    slice_indices : sequence of int, optional
        Which slices of the sequence to lay out; default all.
    slice_spacing : float, optional
        Distance between consecutive slices in mm; default the spacing of the normal axis.

    Returns
    -------
    PlaneStack
        The planes in index coordinates.
    """
    spacing = np.asarray(spacing, dtype=np.float64)
    if len(shape) != 3 or spacing.shape != (3,):
        raise ValueError(f"shape and spacing must have 3 entries, got {tuple(shape)} and {spacing.tolist()}")
    if not math.isfinite(angle) or abs(angle) >= MAX_TILT_DEGREES:
        raise ValueError(f"angle {angle} is outside (-90, 90) degrees: a tilt that large is another view")
    if tilt_axis not in TILT_AXES:
        raise ValueError(f"tilt_axis must be one of {TILT_AXES}, got {tilt_axis!r}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size must be two positive ints (height, width), got {size}")
    if pixel_size is None:
        pixel_size = _default_pixel_size(shape, spacing, axes, size)
    if not pixel_size > 0 or not math.isfinite(pixel_size):
        raise ValueError(f"pixel_size must be a positive number of mm, got {pixel_size}")
    if slice_spacing is None:
        slice_spacing = float(spacing[axes.normal])
    if not slice_spacing > 0 or not math.isfinite(slice_spacing):
        raise ValueError(f"slice_spacing must be a positive number of mm, got {slice_spacing}")
    num_slices = int(shape[axes.normal])
    indices = np.arange(num_slices) if slice_indices is None else np.asarray(slice_indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= num_slices):
        raise ValueError(f"slice_indices must lie in [0, {num_slices - 1}], got {indices.min()}..{indices.max()}")

    down, across, normal = _tilted_frame(axes, angle, tilt_axis)
    # Built in index units (the volume's centre plus whole steps) rather than by dividing millimetres by the
    # spacing, so that an untilted view's first and last slices land exactly on index 0 and n - 1: the sampler
    # treats the faces without tolerance, and a rounding error would blank the whole slice.
    center = (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0
    slice_step = normal * slice_spacing / spacing
    steps = np.stack([down * pixel_size / spacing, across * pixel_size / spacing])
    height, width = size
    centers = center + (indices - (num_slices - 1) / 2.0)[:, None] * slice_step
    corner = centers - (height - 1) / 2.0 * steps[0] - (width - 1) / 2.0 * steps[1]
    return PlaneStack(
        origins=corner,
        steps=np.broadcast_to(steps, (len(indices), 2, 3)).copy(),
        slice_indices=indices,
        num_slices=num_slices,
        centers_mm=centers * spacing,
        pixel_size=float(pixel_size),
    )
