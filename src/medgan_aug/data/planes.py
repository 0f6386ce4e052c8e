"""Where the 2-D planes of a volume lie: named views, oblique tilts and slice positions in physical space.

Geometry is computed in the volume's own physical frame: millimetres along its three index axes, which
:class:`~medgan_aug.data.Volume` guarantees to be orthogonal. A plane laid out in millimetres there is undistorted
whatever the voxel spacing, and :func:`plane_stack` converts it to the voxel-index coordinates the sampler needs.

The anatomical views (:data:`ANATOMICAL_VIEWS`) are defined in the patient frame. :func:`anatomical_view_axes` maps
them onto a volume's index axes through its direction matrix, so that the same anatomy gives the same planes
whatever the order and sense in which a file stores its axes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ANATOMICAL_VIEWS",
    "DEFAULT_VIEWS",
    "MAX_OBLIQUITY_DEGREES",
    "PATIENT_SPACES",
    "TILT_AXES",
    "AnatomicalView",
    "PlaneStack",
    "TiltAxis",
    "ViewAxes",
    "anatomical_view_axes",
    "orientation_code",
    "parse_angles",
    "plane_stack",
    "resolve_views",
]

TiltAxis = Literal["rows", "cols"]
TILT_AXES: tuple[str, ...] = ("rows", "cols")
"""In-plane axes an oblique plane can be tilted about: the image's vertical (``rows``) or horizontal one."""

# Tilts of +-90 degrees turn a view into another one; clinical oblique sweeps stay well inside.
MAX_TILT_DEGREES = 90.0

PATIENT_SPACES: tuple[str, ...] = ("RAS", "LAS", "LPS")
"""Anatomical world frames, named by the patient directions their x, y and z axes point to."""

MAX_OBLIQUITY_DEGREES = 30.0
"""Largest angle between a patient axis and the nearest index axis of a volume whose anatomical views are cut along
its index axes; more oblique volumes are refused by :func:`anatomical_view_axes`."""

_OPPOSITE = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
# The LPS axis (0, 1, 2) each patient direction lies on.
_PATIENT_AXIS = {"L": 0, "R": 0, "P": 1, "A": 1, "S": 2, "I": 2}


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
    flip_normal : bool
        Stack the slices from the high end of the normal axis to the low end, so that slice ``k`` is the same
        physical plane whichever way a file stores that axis.
    """

    normal: int
    rows: int
    cols: int
    flip_rows: bool = False
    flip_cols: bool = False
    flip_normal: bool = False

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
"""Views known by name, on index axes. ``axisK`` slices along index axis K whatever it means. Axial, coronal and
sagittal here are the :data:`ANATOMICAL_VIEWS` of a volume stored in LPS order with identity directions; they are
used as they stand for volumes without an anatomical orientation and with ``VolumeSlicer(orientation="index")``;
otherwise the slicer takes them from :func:`anatomical_view_axes`, through the volume's direction matrix."""


@dataclass(frozen=True)
class AnatomicalView:
    """A view in the patient frame, each axis named by the patient direction it points to.

    Directions are ``L``, ``R`` (left, right), ``A``, ``P`` (anterior, posterior), ``S``, ``I`` (superior,
    inferior); the three must lie on the three different patient axes.

    Parameters
    ----------
    normal : str
        Direction of increasing slice index.
    down : str
        Direction down the image.
    across : str
        Direction across the image, from its left edge to its right.
    """

    normal: str
    down: str
    across: str

    def __post_init__(self) -> None:
        axes = sorted(_PATIENT_AXIS.get(letter, -1) for letter in (self.normal, self.down, self.across))
        if axes != [0, 1, 2]:
            raise ValueError(
                f"normal, down and across must be patient directions (L, R, A, P, S, I) on three different axes, "
                f"got {self.normal!r}, {self.down!r}, {self.across!r}"
            )


ANATOMICAL_VIEWS: dict[str, AnatomicalView] = {
    "axial": AnatomicalView(normal="S", down="P", across="L"),
    "coronal": AnatomicalView(normal="P", down="I", across="L"),
    "sagittal": AnatomicalView(normal="L", down="I", across="P"),
}
"""The views in the patient frame, in the radiological display convention: axial images have anterior at the top
and the patient's right on the image's left; coronal images superior at the top and the patient's right on the
left; sagittal images superior at the top and anterior on the left. Slices run inferior to superior, anterior to
posterior and right to left."""


def _check_space(space: str) -> None:
    if space not in PATIENT_SPACES:
        raise ValueError(f"space must be one of {', '.join(PATIENT_SPACES)}, got {space!r}")


def _direction_matrix(directions: npt.ArrayLike) -> np.ndarray:
    matrix = np.array(directions, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise ValueError(f"directions must be a finite 3 x 3 matrix, got {matrix.tolist()}")
    norms = np.linalg.norm(matrix, axis=1)
    if not norms.all():
        raise ValueError(f"directions has a zero row: {matrix.tolist()}")
    return matrix / norms[:, None]


def _patient_vector(letter: str, space: str) -> np.ndarray:
    """Unit world vector, in the frame ``space``, pointing to the patient direction ``letter``."""
    vector = np.zeros(3)
    for axis, name in enumerate(space):
        if name == letter:
            vector[axis] = 1.0
        elif name == _OPPOSITE[letter]:
            vector[axis] = -1.0
    return vector


def orientation_code(directions: npt.ArrayLike, space: str) -> str:
    """The axis code of a grid: for each index axis, the patient direction it points to most (e.g. ``"LPI"``).

    Parameters
    ----------
    directions : array_like
        ``(3, 3)``; row ``k`` is the world direction of index axis ``k`` in the frame ``space``.
    space : {"RAS", "LAS", "LPS"}
        The world frame.

    Returns
    -------
    str
        Three letters from ``L``/``R``, ``A``/``P``, ``S``/``I``, as nibabel's axis codes; an axis exactly
        between two patient axes takes the first in the frame's x, y, z order.
    """
    matrix = _direction_matrix(directions)
    _check_space(space)
    letters = []
    for row in matrix:
        axis = int(np.argmax(np.abs(row)))
        letters.append(space[axis] if row[axis] > 0 else _OPPOSITE[space[axis]])
    return "".join(letters)


def _snap(matrix: np.ndarray, letter: str, space: str) -> tuple[int, bool, float]:
    """Index axis nearest to the patient direction ``letter``, whether it points the other way, and the angle."""
    components = matrix @ _patient_vector(letter, space)
    axis = int(np.argmax(np.abs(components)))
    cosine = min(abs(float(components[axis])) / float(np.linalg.norm(components)), 1.0)
    return axis, bool(components[axis] < 0), math.degrees(math.acos(cosine))


def anatomical_view_axes(
    directions: npt.ArrayLike, space: str, *, source: str = "<array>"
) -> tuple[dict[str, ViewAxes], float]:
    """Map the :data:`ANATOMICAL_VIEWS` onto the index axes of a volume.

    Each patient axis is snapped to the index axis nearest to it; the planes are then cut along index axes, with
    flips chosen so that the images and the slice order follow the patient directions of the view.

    Parameters
    ----------
    directions : array_like
        ``(3, 3)``; row ``k`` is the world direction of index axis ``k``
        (:attr:`~medgan_aug.data.Volume.directions`).
    space : {"RAS", "LAS", "LPS"}
        The world frame of ``directions`` (:attr:`~medgan_aug.data.Volume.space`).
    source : str, optional
        Name of the volume in error messages.

    Returns
    -------
    views : dict of str to ViewAxes
        ``"axial"``, ``"coronal"`` and ``"sagittal"`` on the volume's index axes.
    obliquity : float
        Largest angle in degrees between a patient axis and the index axis it was snapped to.

    Raises
    ------
    ValueError
        If the obliquity exceeds :data:`MAX_OBLIQUITY_DEGREES`: the index-axis planes would then be far from
        the views they are named after.
    """
    matrix = _direction_matrix(directions)
    _check_space(space)
    obliquity = max(_snap(matrix, letter, space)[2] for letter in "LPS")
    if obliquity > MAX_OBLIQUITY_DEGREES:
        raise ValueError(
            f"{source}: the volume's axes are {obliquity:.1f} degrees from the patient axes (orientation "
            f"{orientation_code(matrix, space)} in {space}), more than the {MAX_OBLIQUITY_DEGREES:g} degrees up to "
            "which axial, coronal and sagittal planes are cut along the index axes: resample the volume onto a grid "
            'aligned with the patient axes, or slice along the index axes knowingly with orientation="index" '
            "(--orientation index)"
        )
    views = {}
    for name, view in ANATOMICAL_VIEWS.items():
        normal, flip_normal, _ = _snap(matrix, view.normal, space)
        rows, flip_rows, _ = _snap(matrix, view.down, space)
        cols, flip_cols, _ = _snap(matrix, view.across, space)
        views[name] = ViewAxes(normal, rows, cols, flip_rows=flip_rows, flip_cols=flip_cols, flip_normal=flip_normal)
    return views, obliquity


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
    normal = eye[axes.normal] * (-1.0 if axes.flip_normal else 1.0)
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
    ``(k - (n - 1) / 2) * slice_spacing`` mm from the centre along the tilted normal (which points to the low end
    of the normal axis with ``axes.flip_normal``), so every tilt has the same slice sequence as the untilted view,
    and image pixel ``(i, j)`` of an ``H x W`` image at
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
