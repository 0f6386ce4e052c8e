"""2-D training planes from 3-D volumes: views, oblique tilts, noise labelling, tiling and dataset writing."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..ops import sample_planes, spline_coefficients
from .dataset_writer import DatasetWriter, split_by_patient
from .intensity import IntensityWindow, encode_pixels
from .planes import (
    ANATOMICAL_VIEWS,
    TILT_AXES,
    PlaneStack,
    TiltAxis,
    ViewAxes,
    anatomical_view_axes,
    plane_stack,
    resolve_views,
)
from .tiling import PAD_MODES, PadMode, tile_image
from .volume import Volume, read_volume

__all__ = ["INTERPOLATION_ORDERS", "ORIENTATIONS", "Orientation", "PlaneDataset", "SlicedPlane", "VolumeSlicer"]

INTERPOLATION_ORDERS: dict[str, int] = {"nearest": 0, "linear": 1, "cubic": 3}
"""Interpolation names and their B-spline orders."""

Orientation = Literal["anatomical", "index"]
ORIENTATIONS: tuple[str, ...] = ("anatomical", "index")
"""How axial, coronal and sagittal are found: in the patient frame through each volume's direction matrix, or as
index axes (:data:`~medgan_aug.data.planes.DEFAULT_VIEWS`)."""

_VOLUME_SUFFIXES = (".nrrd", ".nhdr")
# Volume.from_array's default source; such volumes are named by their position instead.
_IN_MEMORY = "<array>"


@dataclass(frozen=True)
class SlicedPlane:
    """One image cut from a volume, with where it came from.

    Attributes
    ----------
    image : numpy.ndarray
        float32 ``[H, W]`` intensities mapped to [0, 1] by the volume's window (a tile when tiling).
    label : str
        Class: the view's label, or the noise label for an uninformative slice.
    view : str
        View name.
    angle : float
        Tilt in degrees.
    slice_index : int
        Position in the view's slice sequence.
    num_slices : int
        Length of that sequence.
    informative : float
        Fraction of the whole plane's pixels above the informative threshold.
    tile_row, tile_col : int or None
        Position in the tile grid when tiling.
    foreground : float or None
        Foreground fraction of the image under the mask, when a mask is given (tile padding counts as background).
    mask : numpy.ndarray or None
        bool ``[H, W]`` foreground (label voxel != 0) on the image's pixel grid, sampled with nearest neighbour;
        a tile's mask is padded like its image. None without a mask volume.
    orientation : str
        Axis code of the volume (:meth:`~medgan_aug.data.Volume.orientation_code`, e.g. ``"RAS"``); empty when it
        has no anatomical frame.
    normal : str
        Direction of increasing slice index of the untilted view: a patient direction (``"S"``, ``"P"``, ``"L"``)
        for a view cut in the patient frame, else the index axis and its sense, e.g. ``"+axis2"``.
    obliquity : float or None
        Largest angle in degrees between a patient axis and the index axis the view was cut along (rounded to
        0.01); None for views cut along index axes.
    """

    image: np.ndarray
    label: str
    view: str
    angle: float
    slice_index: int
    num_slices: int
    informative: float
    tile_row: int | None = None
    tile_col: int | None = None
    foreground: float | None = None
    mask: np.ndarray | None = None
    orientation: str = ""
    normal: str = ""
    obliquity: float | None = None


class PlaneDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Sliced planes held in memory, with integer class labels: what :meth:`VolumeSlicer.dataset` returns.

    Item ``i`` is ``(image, label)``: ``planes[i].image`` as float32 ``[1, H, W]`` in [0, 1] (the slicer's range;
    :func:`~medgan_aug.data.unit_to_signed` maps it to a generator's [-1, 1]) and the index of its label in
    ``class_names`` as an int64 scalar, the form :func:`~medgan_aug.selftrain.train_classifier` takes.

    Parameters
    ----------
    planes : sequence of SlicedPlane
        The planes, in item order.
    class_names : sequence of str, optional
        The classes, in index order; default the planes' labels, sorted. Every plane's label must be one.
    transform : callable, optional
        Applied to each image tensor before it is returned (it must be picklable for DataLoader workers).

    Attributes
    ----------
    planes : list of SlicedPlane
        The planes with their metadata (view, angle, slice index, mask, ...).
    class_names : list of str
        The classes.
    labels : numpy.ndarray
        int64 ``[len(self)]`` class indices.
    """

    def __init__(
        self,
        planes: Sequence[SlicedPlane],
        class_names: Sequence[str] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.planes = list(planes)
        if not self.planes:
            raise ValueError("planes is empty: the slicer kept no plane of these volumes")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        found = sorted({plane.label for plane in self.planes})
        self.class_names = found if class_names is None else [str(name) for name in class_names]
        index = {name: k for k, name in enumerate(self.class_names)}
        if len(index) != len(self.class_names):
            raise ValueError(f"class_names must be distinct, got {self.class_names}")
        unknown = [label for label in found if label not in index]
        if unknown:
            raise ValueError(f"planes have labels {unknown} that are not in class_names {self.class_names}")
        self.labels = np.array([index[plane.label] for plane in self.planes], dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.planes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return item ``index`` as ``(image float32 [1, H, W] in [0, 1], label int64 scalar)``."""
        image = torch.from_numpy(np.ascontiguousarray(self.planes[index].image, dtype=np.float32))[None]
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.tensor(self.labels[index])


@dataclass(frozen=True)
class _View:
    """A view as laid out on one volume's index axes, with what the manifest records about it."""

    axes: ViewAxes
    normal: str
    obliquity: float | None


def _index_normal(axes: ViewAxes) -> str:
    return f"{'-' if axes.flip_normal else '+'}axis{axes.normal}"


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s >= 1 for s in pair):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
    return pair  # type: ignore[return-value]


def _volumes_with_masks(
    volumes: Sequence[str | os.PathLike[str] | Volume],
    masks: Sequence[str | os.PathLike[str] | Volume | None] | None,
) -> tuple[list[str | os.PathLike[str] | Volume], list[str | os.PathLike[str] | Volume | None]]:
    """The volumes and one mask entry (or None) per volume, checked."""
    volumes = list(volumes)
    if not volumes:
        raise ValueError("volumes is empty: give at least one volume")
    masks = [None] * len(volumes) if masks is None else list(masks)
    if len(masks) != len(volumes):
        raise ValueError(f"masks has {len(masks)} entries for {len(volumes)} volumes")
    return volumes, masks


def _loaded(item: str | os.PathLike[str] | Volume | None) -> Volume | None:
    """A volume given as a path, read; a Volume or None as it is."""
    return item if item is None or isinstance(item, Volume) else read_volume(item)


def _volume_stem(source: str, position: int) -> str:
    if source == _IN_MEMORY:
        return f"volume{position:03d}"
    name = Path(source).name
    for suffix in _VOLUME_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(source).stem


class VolumeSlicer:
    """Cut labelled 2-D planes out of 3-D volumes, sampled in physical space.

    Every requested view is sliced at every tilt angle; slice ``k`` of a view lies at the same distance from the
    volume's centre (along the tilted normal) for every angle, as if the volume had been rotated, but only the
    planes' own pixels are interpolated. Anisotropic voxels give undistorted images because planes are laid out in
    millimetres (see :func:`~medgan_aug.data.planes.plane_stack`).

    Parameters
    ----------
    views : sequence of str
        View names: ``axial``, ``coronal``, ``sagittal``, ``axis0``, ``axis1``, ``axis2`` or names from
        ``view_axes``.
    angles : sequence of float
        Tilts in degrees, each in (-90, 90); ``(0,)`` for orthogonal planes only.
    tilt_axis : {"rows", "cols"}
        In-plane axis the tilt rotates about: the image's vertical (``rows``) or horizontal (``cols``) axis.
    size : int or tuple of int
        Output image size, square or ``(height, width)``.
    pixel_size : float, optional
        Output pixel size in mm; default: each view's field of view fitted into ``size``.
    slice_spacing : float, optional
        mm between consecutive slices; default the voxel spacing along the view's normal axis.
    interpolation : {"nearest", "linear", "cubic"}
        Interpolation of the volume (cubic is the B-spline of ``scipy.ndimage``).
    every : int
        Keep every ``every``-th slice.
    skip : int
        Drop this many slices at each end of every view's sequence.
    noise_margin : int
        Label the first and last ``noise_margin`` slices of the sequence as noise.
    min_informative : float, optional
        Also label as noise any plane where fewer than this fraction of pixels exceed ``informative_threshold``.
    informative_threshold : float
        Intensity, after windowing to [0, 1], above which a pixel counts as informative.
    noise_label : str
        Class name of uninformative planes.
    label_format : str
        Class name of the other planes; ``{view}`` and ``{angle}`` are replaced, e.g. ``"{view}"`` or
        ``"{view}_{angle:+.0f}"``.
    window : IntensityWindow or tuple of float, optional
        Fixed intensity window, or ``(center, width)``; default: per-volume ``percentiles``.
    percentiles : tuple of float
        Low and high percentiles of each volume's voxels that map to 0 and 1 when no ``window`` is given.
    tile : int, optional
        Cut each plane into ``tile x tile`` tiles.
    overlap : int
        Pixels shared by neighbouring tiles.
    pad : {"reflect", "zero"}
        Filling of the last row and column of tiles when ``size`` is not a whole number of tiles.
    min_foreground : float
        With a mask volume, drop tiles (or planes, when not tiling) whose foreground fraction is below this.
    view_axes : mapping of str to ViewAxes, optional
        Extra views, or replacements for named ones, as explicit index-axis mappings (used for every volume).
    orientation : {"anatomical", "index"}
        ``"anatomical"``: axial, coronal and sagittal are cut in the patient frame of each volume (its
        ``space`` and direction matrix, :func:`~medgan_aug.data.planes.anatomical_view_axes`), whatever order its
        axes are stored in; volumes more than 30 degrees oblique are refused, and volumes without an anatomical
        frame are cut along index axes with one warning per slicer. ``"index"``: those views are index axes
        (:data:`~medgan_aug.data.planes.DEFAULT_VIEWS`) for every volume.
    batch_size : int
        Planes interpolated per call; bounds memory to one volume plus one batch of planes.
    impl : str, optional
        Sampler implementation (see :func:`medgan_aug.ops.sample_planes`).
    """

    def __init__(
        self,
        views: Sequence[str] = ("coronal", "sagittal"),
        angles: Sequence[float] = (0.0,),
        *,
        tilt_axis: TiltAxis = "rows",
        size: int | tuple[int, int] = 256,
        pixel_size: float | None = None,
        slice_spacing: float | None = None,
        interpolation: Literal["nearest", "linear", "cubic"] = "linear",
        every: int = 1,
        skip: int = 0,
        noise_margin: int = 0,
        min_informative: float | None = None,
        informative_threshold: float = 0.05,
        noise_label: str = "noise",
        label_format: str = "{view}",
        window: IntensityWindow | tuple[float, float] | None = None,
        percentiles: tuple[float, float] = (0.5, 99.5),
        tile: int | None = None,
        overlap: int = 0,
        pad: PadMode = "reflect",
        min_foreground: float = 0.0,
        view_axes: Mapping[str, ViewAxes] | None = None,
        orientation: Orientation = "anatomical",
        batch_size: int = 16,
        impl: str | None = None,
    ) -> None:
        self.views = resolve_views(views, view_axes)
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
        self.orientation: Orientation = orientation
        # Named views the user mapped explicitly stay index mappings.
        self._anatomical = (
            [name for name in self.views if name in ANATOMICAL_VIEWS and name not in (view_axes or {})]
            if orientation == "anatomical"
            else []
        )
        self._warned_index_views = False
        self.angles = [float(a) for a in angles]
        if not self.angles:
            raise ValueError("angles must list at least one angle (0 for orthogonal planes)")
        bad = [a for a in self.angles if not math.isfinite(a) or abs(a) >= 90.0]
        if bad:
            raise ValueError(f"angles {bad} are outside (-90, 90) degrees: a tilt that large is another view")
        if tilt_axis not in TILT_AXES:
            raise ValueError(f"tilt_axis must be one of {TILT_AXES}, got {tilt_axis!r}")
        if interpolation not in INTERPOLATION_ORDERS:
            raise ValueError(f"interpolation must be one of {list(INTERPOLATION_ORDERS)}, got {interpolation!r}")
        for name, value in (("every", every), ("batch_size", batch_size)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        for name, value in (("skip", skip), ("noise_margin", noise_margin), ("overlap", overlap)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if min_informative is not None and not 0.0 <= min_informative <= 1.0:
            raise ValueError(f"min_informative must be in [0, 1], got {min_informative}")
        if not 0.0 <= min_foreground <= 1.0:
            raise ValueError(f"min_foreground must be in [0, 1], got {min_foreground}")
        if pad not in PAD_MODES:
            raise ValueError(f"pad must be one of {PAD_MODES}, got {pad!r}")
        if tile is not None and (not isinstance(tile, int) or tile < 1 or overlap >= tile):
            raise ValueError(f"tile must be an int >= 1 larger than overlap={overlap}, got {tile!r}")
        low, high = percentiles
        if not 0.0 <= low < high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        try:
            label_format.format(view="view", angle=0.0)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"label_format {label_format!r} is not a format with {{view}} and {{angle}}") from error
        self.tilt_axis: TiltAxis = tilt_axis
        self.size = _as_size(size)
        self.pixel_size = pixel_size
        self.slice_spacing = slice_spacing
        self.interpolation = interpolation
        self.every, self.skip, self.noise_margin = every, skip, noise_margin
        self.min_informative, self.informative_threshold = min_informative, informative_threshold
        self.noise_label, self.label_format = noise_label, label_format
        self.window = IntensityWindow.from_center_width(*window) if isinstance(window, tuple) else window
        self.percentiles = (float(low), float(high))
        self.tile, self.overlap, self.pad, self.min_foreground = tile, overlap, pad, min_foreground
        self.batch_size, self.impl = batch_size, impl

    @property
    def order(self) -> int:
        """B-spline order of the interpolation."""
        return INTERPOLATION_ORDERS[self.interpolation]

    def slice_indices(self, num_slices: int) -> np.ndarray:
        """Positions kept from a sequence of ``num_slices`` slices (after ``skip`` and ``every``)."""
        if 2 * self.skip >= num_slices:
            raise ValueError(f"skip={self.skip} at each end leaves no slice of {num_slices}")
        return np.arange(self.skip, num_slices - self.skip, self.every)

    def _views_for(self, volume: Volume) -> dict[str, _View]:
        """This slicer's views laid out on ``volume``'s index axes."""
        views = {name: _View(axes, _index_normal(axes), None) for name, axes in self.views.items()}
        if not self._anatomical:
            return views
        if volume.space is None:
            if not self._warned_index_views:
                self._warned_index_views = True
                warnings.warn(
                    f"{volume.source} has no anatomical frame (no NRRD space with space directions, no DICOM "
                    f"orientation), so the views {', '.join(self._anatomical)} are its index axes, as if it were "
                    "stored in LPS order (said once per slicer, for the first such volume); pass "
                    'orientation="index" (--orientation index) to slice along index axes knowingly',
                    UserWarning,
                    stacklevel=3,
                )
            return views
        anatomical, obliquity = anatomical_view_axes(volume.directions, volume.space, source=volume.source)
        for name in self._anatomical:
            views[name] = _View(anatomical[name], ANATOMICAL_VIEWS[name].normal, round(obliquity, 2))
        return views

    def _stack(self, volume: Volume, axes: ViewAxes, angle: float) -> PlaneStack:
        return plane_stack(
            volume.shape,
            volume.spacing,
            axes,
            angle,
            tilt_axis=self.tilt_axis,
            size=self.size,
            pixel_size=self.pixel_size,
            slice_indices=self.slice_indices(volume.shape[axes.normal]),
            slice_spacing=self.slice_spacing,
        )

    def stacks(self, volume: Volume) -> Iterator[tuple[str, float, PlaneStack]]:
        """The plane layout of every (view, angle) pair for ``volume``."""
        return self._stacks(volume, self._views_for(volume))

    def _stacks(self, volume: Volume, views: dict[str, _View]) -> Iterator[tuple[str, float, PlaneStack]]:
        for view, layout in views.items():
            for angle in self.angles:
                yield view, angle, self._stack(volume, layout.axes, angle)

    def count(self, volume: Volume) -> int:
        """Number of planes :meth:`planes` interpolates from ``volume`` (before tiling and filtering)."""
        return sum(
            len(self.slice_indices(volume.shape[layout.axes.normal])) for layout in self._views_for(volume).values()
        ) * len(self.angles)

    def window_for(self, volume: Volume) -> IntensityWindow:
        """The intensity window applied to ``volume``: the fixed one, else its voxels' percentiles."""
        if self.window is not None:
            return self.window
        return IntensityWindow.from_percentiles(volume.data, *self.percentiles)

    def _sample(self, data: torch.Tensor, stack: PlaneStack, order: int) -> Iterator[np.ndarray]:
        for start in range(0, len(stack.slice_indices), self.batch_size):
            batch = slice(start, start + self.batch_size)
            yield from sample_planes(
                data,
                torch.from_numpy(stack.origins[batch]),
                torch.from_numpy(stack.steps[batch]),
                self.size,
                order=order,
                impl=self.impl,
            ).numpy()

    def sample(self, volume: Volume, view: str, angle: float = 0.0) -> np.ndarray:
        """Raw (unwindowed) intensities of one view's planes at one tilt, ``[P, H, W]`` float32.

        Parameters
        ----------
        volume : Volume
            The volume.
        view : str
            One of this slicer's views.
        angle : float
            Tilt in degrees.

        Returns
        -------
        numpy.ndarray
            The planes at :meth:`slice_indices`, in order.
        """
        if view not in self.views:
            raise ValueError(f"view {view!r} is not one of this slicer's views {list(self.views)}")
        stack = self._stack(volume, self._views_for(volume)[view].axes, angle)
        return np.stack(list(self._sample(self._interpolated(volume), stack, self.order)))

    def _interpolated(self, volume: Volume) -> torch.Tensor:
        """What the sampler interpolates: the voxels, or their B-spline coefficients for cubic."""
        return torch.from_numpy(volume.data if self.order < 3 else spline_coefficients(volume.data))

    def _check_mask(self, volume: Volume, mask: Volume | None) -> None:
        if mask is None:
            if self.min_foreground > 0:
                raise ValueError(f"min_foreground={self.min_foreground} needs a mask volume for {volume.source}")
            return
        if mask.shape != volume.shape:
            raise ValueError(f"mask {mask.source} has shape {mask.shape}, but {volume.source} has {volume.shape}")

    def _label(self, view: str, angle: float, slice_index: int, num_slices: int, informative: float) -> str:
        at_end = slice_index < self.noise_margin or slice_index >= num_slices - self.noise_margin
        if at_end or (self.min_informative is not None and informative < self.min_informative):
            return self.noise_label
        return self.label_format.format(view=view, angle=angle)

    def planes(
        self,
        volume: Volume,
        mask: Volume | None = None,
        *,
        window: IntensityWindow | None = None,
        on_plane: Callable[[], object] | None = None,
    ) -> Iterator[SlicedPlane]:
        """Cut, window, label and tile the planes of ``volume``.

        Parameters
        ----------
        volume : Volume
            The volume.
        mask : Volume, optional
            Label volume on the same grid; non-zero voxels are foreground (for ``min_foreground`` and
            :attr:`SlicedPlane.mask`).
        window : IntensityWindow, optional
            Intensity window; default :meth:`window_for`.
        on_plane : callable, optional
            Called after each interpolated plane has been handled (progress reporting).

        Yields
        ------
        SlicedPlane
            Views in order, then angles, then slices (then tiles).
        """
        self._check_mask(volume, mask)
        window = self.window_for(volume) if window is None else window
        data = self._interpolated(volume)
        mask_data = None if mask is None else torch.from_numpy(mask.data)
        views = self._views_for(volume)
        orientation = volume.orientation_code() or ""
        for view, angle, stack in self._stacks(volume, views):
            layout = views[view]
            masks = iter(()) if mask_data is None else self._sample(mask_data, stack, 0)
            for slice_index, raw in zip(
                stack.slice_indices.tolist(), self._sample(data, stack, self.order), strict=True
            ):
                image = window.apply(raw)
                informative = float((image > self.informative_threshold).mean())
                label = self._label(view, angle, slice_index, stack.num_slices, informative)
                plane_mask = next(masks, None)
                fields = {"label": label, "view": view, "angle": angle, "slice_index": slice_index}
                fields |= {"num_slices": stack.num_slices, "informative": informative, "orientation": orientation}
                fields |= {"normal": layout.normal, "obliquity": layout.obliquity}
                if self.tile is None:
                    foreground = None if plane_mask is None else plane_mask != 0
                    fraction = None if foreground is None else float(foreground.mean())
                    if fraction is None or fraction >= self.min_foreground:
                        yield SlicedPlane(image=image, foreground=fraction, mask=foreground, **fields)
                else:
                    for tile in tile_image(
                        image,
                        self.tile,
                        self.overlap,
                        pad=self.pad,
                        mask=plane_mask,
                        min_foreground=self.min_foreground,
                    ):
                        yield SlicedPlane(
                            image=tile.image,
                            tile_row=tile.row,
                            tile_col=tile.col,
                            foreground=tile.foreground,
                            mask=tile.mask,
                            **fields,
                        )
                if on_plane is not None:
                    on_plane()

    def dataset(
        self,
        volumes: Sequence[str | os.PathLike[str] | Volume],
        *,
        masks: Sequence[str | os.PathLike[str] | Volume | None] | None = None,
        class_names: Sequence[str] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> PlaneDataset:
        """Slice every volume into an in-memory dataset of planes with class labels, writing no files.

        Parameters
        ----------
        volumes : sequence of path or Volume
            NRRD files, DICOM series folders or loaded volumes, read one at a time.
        masks : sequence, optional
            A label volume (or None) per volume, for ``min_foreground`` and each plane's ``mask``.
        class_names : sequence of str, optional
            The classes in index order (default the labels found, sorted), e.g. to keep the indices of another
            set whose planes lack a class.
        transform : callable, optional
            Applied to each image tensor as it is returned (see :class:`PlaneDataset`).

        Returns
        -------
        PlaneDataset
            The planes in the order :meth:`planes` yields them, volume after volume.
        """
        volumes, masks = _volumes_with_masks(volumes, masks)
        planes: list[SlicedPlane] = []
        for item, mask_item in zip(volumes, masks, strict=True):
            planes.extend(self.planes(_loaded(item), _loaded(mask_item)))
        return PlaneDataset(planes, class_names, transform)

    def write(
        self,
        volumes: Sequence[str | os.PathLike[str] | Volume],
        out_dir: str | os.PathLike[str],
        *,
        masks: Sequence[str | os.PathLike[str] | Volume | None] | None = None,
        patient_ids: Sequence[str] | Callable[[str], str] | None = None,
        split: tuple[float, float, float] | None = None,
        seed: int = 0,
        bits: Literal[8, 16] = 8,
        rgb: bool = False,
        manifest: Literal["csv", "json"] = "csv",
        overwrite: bool = False,
        progress: bool = True,
        write_masks: bool = False,
    ) -> Path:
        """Slice every volume into a training folder (class subfolders of PNG) with a manifest, all or nothing.

        Parameters
        ----------
        volumes : sequence of path or Volume
            NRRD files, DICOM series folders or loaded volumes; read one at a time.
        out_dir : path
            Output folder, created only once every plane is written (see :class:`DatasetWriter`).
        masks : sequence, optional
            A label volume (or None) per volume, for ``min_foreground`` and ``write_masks``.
        patient_ids : sequence of str or callable, optional
            Patient of each volume, or a function of the volume's source path; default the file name without
            its extension (``volume000``, ... for in-memory volumes). Volumes of one patient share one split.
        split : tuple of float, optional
            Train/val/test fractions by patient; the folder then holds ``train/``, ``val/`` and ``test/``.
        seed : int
            Seed of the patient split.
        bits : {8, 16}
            PNG bit depth.
        rgb : bool
            Store grayscale planes as 3-channel images.
        manifest : {"csv", "json"}
            Manifest format.
        overwrite : bool
            Replace an existing non-empty ``out_dir`` (only after the new one is complete).
        progress : bool
            Show a progress bar.
        write_masks : bool
            Also write each image's mask, the paired layout of ``DatasetWriter(masks=True)``:
            ``[<split>/]images/<label>/<name>.png`` beside ``[<split>/]masks/<label>/<name>.png``, with ``mask``
            and ``foreground`` manifest columns. Needs a mask volume for every volume. The ``foreground`` column
            is then the written mask's mean, which for reflect-padded edge tiles includes the mirrored foreground
            (``min_foreground`` still counts padding as background).

        Returns
        -------
        pathlib.Path
            ``out_dir``.
        """
        from tqdm.auto import tqdm

        volumes, masks = _volumes_with_masks(volumes, masks)
        sources = [v.source if isinstance(v, Volume) else os.fspath(v) for v in volumes]
        if write_masks:
            unmasked = [
                f"volume {i} ({source})" for i, (source, m) in enumerate(zip(sources, masks, strict=True)) if m is None
            ]
            if unmasked:
                raise ValueError(f"write_masks needs a mask volume for every volume, but {unmasked[0]} has none")
        stems = [_volume_stem(s, i) for i, s in enumerate(sources)]
        if len(set(stems)) != len(stems):
            raise ValueError(f"volumes must have distinct file names (they name the images), got {stems}")
        if patient_ids is None:
            patients = stems
        elif callable(patient_ids):
            patients = [patient_ids(s) for s in sources]
        else:
            patients = [str(p) for p in patient_ids]
            if len(patients) != len(volumes):
                raise ValueError(f"patient_ids has {len(patients)} entries for {len(volumes)} volumes")
        assignment = None if split is None else split_by_patient(patients, split, seed)
        with (
            DatasetWriter(
                out_dir, manifest=manifest, split=assignment, overwrite=overwrite, bits=bits, masks=write_masks
            ) as writer,
            tqdm(total=0, unit="plane", disable=not progress, desc="slicing") as bar,
        ):
            for item, mask_item, stem, patient in zip(volumes, masks, stems, patients, strict=True):
                volume, mask = _loaded(item), _loaded(mask_item)
                window = self.window_for(volume)
                bar.total += self.count(volume)
                bar.refresh()
                for plane in self.planes(volume, mask, window=window, on_plane=bar.update):
                    name = f"{stem}_{plane.view}_a{plane.angle:+g}_s{plane.slice_index:04d}"
                    if plane.tile_row is not None:
                        name += f"_r{plane.tile_row}c{plane.tile_col}"
                    foreground = plane.foreground
                    if write_masks and plane.mask is not None:
                        foreground = float(plane.mask.mean())
                    writer.add(
                        encode_pixels(plane.image, bits=bits, rgb=rgb),
                        plane.label,
                        name,
                        mask=plane.mask if write_masks else None,
                        source=volume.source,
                        patient_id=patient,
                        view=plane.view,
                        angle=plane.angle,
                        slice_index=plane.slice_index,
                        num_slices=plane.num_slices,
                        orientation=plane.orientation,
                        normal=plane.normal,
                        obliquity="" if plane.obliquity is None else plane.obliquity,
                        tile_row="" if plane.tile_row is None else plane.tile_row,
                        tile_col="" if plane.tile_col is None else plane.tile_col,
                        informative=round(plane.informative, 4),
                        foreground="" if foreground is None else round(foreground, 4),
                        window_low=window.low,
                        window_high=window.high,
                    )
        return Path(out_dir)
