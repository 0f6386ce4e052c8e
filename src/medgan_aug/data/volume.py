"""3-D scalar volumes with their physical geometry: NRRD reading and writing, DICOM series reading."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import nrrd
import numpy as np
import numpy.typing as npt

from .._files import atomic_write
from .planes import PATIENT_SPACES, orientation_code

__all__ = ["Volume", "read_dicom_series", "read_nrrd", "read_volume", "write_nrrd"]

_NRRD_EXTENSIONS: tuple[str, ...] = (".nrrd", ".nhdr")

# Largest |D D^T - I| entry accepted for the normalised direction matrix.
_ORTHONORMAL_TOLERANCE = 1e-3
# Largest deviation of a DICOM slice position from the uniform grid, relative to the slice spacing.
_SLICE_SPACING_TOLERANCE = 0.01
# Axis kinds a NRRD volume may have: "???" and "none" are the format's "unknown"; a "time" axis is not in mm.
_SPATIAL_KINDS = frozenset({"domain", "space", "???", "none"})
_DICOM_INSTALL_HINT = 'reading DICOM series needs pydicom: pip install "medgan-aug[dicom]"'

# NRRD names of the anatomical world frames, and the names the reader accepts (long or short, in any case).
_NRRD_SPACE_NAMES = {
    "RAS": "right-anterior-superior",
    "LAS": "left-anterior-superior",
    "LPS": "left-posterior-superior",
}
_NRRD_SPACES = {name: code for code, long in _NRRD_SPACE_NAMES.items() for name in (long, code.lower())}
# 3-D NRRD frames without an anatomical meaning, and the 4-D ones that add a time axis.
_NRRD_PLAIN_SPACES = ("scanner-xyz", "3D-right-handed", "3D-left-handed")
_NRRD_TIME_SPACES = frozenset(
    {f"{name}-time" for name in (*_NRRD_SPACE_NAMES.values(), *(plain.lower() for plain in _NRRD_PLAIN_SPACES))}
    | {"rast", "last", "lpst"}
)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _vector3(value: npt.ArrayLike, name: str, source: str) -> np.ndarray:
    try:
        vector = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: {name} must be 3 numbers, got {value!r}") from error
    if vector.shape != (3,):
        raise ValueError(f"{source}: {name} must be 3 numbers, got shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise ValueError(f"{source}: {name} must be finite, got {vector.tolist()}")
    return vector


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3-D scalar image on a regular grid with its physical geometry.

    World coordinates (mm) of the voxel with index ``i`` are
    ``origin + sum_k i[k] * spacing[k] * directions[k]``; they are in the frame of the file the volume came
    from (NRRD ``space``, or the DICOM patient frame LPS), named by ``space`` when it is an anatomical one.

    Parameters
    ----------
    data : numpy.ndarray
        ``[N0, N1, N2]`` voxels, stored as a C-contiguous float32 array: converted with one copy, or the
        input array itself when it is float32 and C-contiguous already. Axis ``k`` is the file's ``k``-th axis.
    spacing : numpy.ndarray
        ``(3,)`` voxel size in mm along each index axis, > 0. The geometry arrays are stored as read-only
        float64 copies.
    directions : numpy.ndarray
        ``(3, 3)``; row ``k`` is the world direction of index axis ``k``. Rows are normalised and must then be
        orthonormal to within 1e-3.
    origin : numpy.ndarray
        ``(3,)`` world position of voxel ``(0, 0, 0)``.
    source : str
        File the volume was read from, or ``"<array>"``; error messages name it.
    space : {"RAS", "LAS", "LPS"} or None
        The anatomical world frame: the patient directions the world x, y and z axes point to. None when the
        frame is unknown or not anatomical; the volume's axes then have no patient meaning.

    Raises
    ------
    ValueError
        If the data is not a finite 3-D real array, the geometry is invalid or ``space`` is not one of the codes.
    """

    data: np.ndarray
    spacing: np.ndarray
    directions: np.ndarray
    origin: np.ndarray
    source: str
    space: str | None = None

    def __post_init__(self) -> None:
        source = str(self.source)
        object.__setattr__(self, "source", source)
        # The data stays writable: torch.from_numpy warns about read-only arrays.
        object.__setattr__(self, "data", _check_data(self.data, source))

        spacing = _vector3(self.spacing, "spacing", source)
        for axis, value in enumerate(spacing):
            if value <= 0:
                raise ValueError(f"{source}: spacing[{axis}] = {value} must be > 0")
        object.__setattr__(self, "spacing", _read_only(spacing))

        object.__setattr__(self, "directions", _read_only(_check_directions(self.directions, source)))
        object.__setattr__(self, "origin", _read_only(_vector3(self.origin, "origin", source)))
        if self.space is not None and self.space not in PATIENT_SPACES:
            raise ValueError(f"{source}: space must be one of {', '.join(PATIENT_SPACES)} or None, got {self.space!r}")

    def __repr__(self) -> str:
        return (
            f"Volume(shape={self.shape}, spacing={tuple(self.spacing.tolist())}, "
            f"origin={tuple(self.origin.tolist())}, space={self.space!r}, source={self.source!r})"
        )

    @classmethod
    def from_array(
        cls,
        array: npt.ArrayLike,
        spacing: npt.ArrayLike = (1.0, 1.0, 1.0),
        origin: npt.ArrayLike = (0.0, 0.0, 0.0),
        directions: npt.ArrayLike | None = None,
        source: str = "<array>",
        space: str | None = None,
    ) -> Volume:
        """Wrap a 3-D array as a volume.

        Parameters
        ----------
        array : array_like
            ``[N0, N1, N2]`` real voxel values.
        spacing : array_like, optional
            Voxel size in mm along each axis.
        origin : array_like, optional
            World position of voxel ``(0, 0, 0)``.
        directions : array_like, optional
            ``(3, 3)`` rows of unit world directions of the index axes; the identity if omitted.
        source : str, optional
            Name used in error messages.
        space : {"RAS", "LAS", "LPS"}, optional
            The anatomical frame of ``origin`` and ``directions``; None (the default) for none.

        Returns
        -------
        Volume
            The validated volume.
        """
        if directions is None:
            directions = np.eye(3)
        return cls(data=array, spacing=spacing, directions=directions, origin=origin, source=source, space=space)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along each index axis."""
        n0, n1, n2 = self.data.shape
        return n0, n1, n2

    def orientation_code(self) -> str | None:
        """The patient direction each index axis points to most, e.g. ``"RAS"`` or ``"LPI"`` (nibabel's axis codes).

        Returns
        -------
        str or None
            Three letters from ``L``/``R``, ``A``/``P``, ``S``/``I``; None when ``space`` is None.
        """
        return None if self.space is None else orientation_code(self.directions, self.space)

    def index_to_world(self) -> np.ndarray:
        """Return the ``4 x 4`` affine mapping homogeneous index coordinates to world coordinates (mm).

        Returns
        -------
        numpy.ndarray
            float64 matrix ``A`` with ``A[:3, k] = spacing[k] * directions[k]`` and ``A[:3, 3] = origin``.
        """
        affine = np.eye(4)
        affine[:3, :3] = self.directions.T * self.spacing
        affine[:3, 3] = self.origin
        return affine

    def world_to_index(self, points: npt.ArrayLike) -> np.ndarray:
        """Map world coordinates (mm) to continuous index coordinates.

        Parameters
        ----------
        points : array_like
            ``[..., 3]`` world positions.

        Returns
        -------
        numpy.ndarray
            ``[..., 3]`` float64 index coordinates; voxel centres are at integers.
        """
        points = np.asarray(points, dtype=np.float64)
        if points.ndim == 0 or points.shape[-1] != 3:
            raise ValueError(f"points must have shape [..., 3], got {points.shape}")
        inverse = np.linalg.inv(self.directions.T * self.spacing)
        return (points - self.origin) @ inverse.T


def _check_data(data: npt.ArrayLike, source: str) -> np.ndarray:
    array = np.asarray(data)
    if array.ndim != 3:
        raise ValueError(f"{source}: {array.ndim}-D data of shape {array.shape}: a 3-D scalar volume is required")
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{source}: data of dtype {array.dtype}: real (integer or floating) voxels are required")
    if array.size == 0:
        raise ValueError(f"{source}: data of shape {array.shape} is empty")
    # Values beyond the float32 range become Inf here and are reported below.
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ValueError(f"{source}: {bad} of {array.size} voxels are NaN or Inf (in float32); a volume must be finite")
    return array


def _check_directions(directions: npt.ArrayLike, source: str) -> np.ndarray:
    try:
        matrix = np.array(directions, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: directions must be a 3 x 3 matrix, got {directions!r}") from error
    if matrix.shape != (3, 3):
        raise ValueError(f"{source}: directions must be a 3 x 3 matrix, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{source}: directions must be finite, got {matrix.tolist()}")
    norms = np.linalg.norm(matrix, axis=1)
    for axis, norm in enumerate(norms):
        if norm == 0:
            raise ValueError(f"{source}: directions[{axis}] is the zero vector")
    matrix /= norms[:, None]
    error = float(np.abs(matrix @ matrix.T - np.eye(3)).max())
    if error > _ORTHONORMAL_TOLERANCE:
        raise ValueError(
            f"{source}: the axis directions are not orthonormal (largest |D D^T - I| entry {error:.3g} > "
            f"{_ORTHONORMAL_TOLERANCE}): sheared or skewed grids are not supported"
        )
    return matrix


def read_volume(path: str | os.PathLike[str]) -> Volume:
    """Read a volume from a NRRD file (``.nrrd``/``.nhdr``) or a directory holding one DICOM series.

    Parameters
    ----------
    path : str or os.PathLike
        The file or directory.

    Returns
    -------
    Volume
        The volume, with ``source`` set to ``path``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the format is not recognised or the file cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path)
    if path.suffix.lower() in _NRRD_EXTENSIONS:
        return read_nrrd(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    raise ValueError(
        f"{path}: unsupported volume format {path.suffix!r} (supported: {', '.join(_NRRD_EXTENSIONS)} files "
        "and directories of DICOM slices)"
    )


def _unreadable(path: Path, error: BaseException) -> ValueError:
    reason = str(error) or type(error).__name__
    return ValueError(f"{path}: cannot read NRRD: {reason}")


def _nrrd_space(header: dict[str, Any], path: Path) -> str | None:
    """The anatomical frame named by the header's ``space`` field, None for a non-anatomical or missing one."""
    if "space" not in header:
        return None
    value = str(header["space"])
    name = value.strip().lower()
    if name in _NRRD_SPACES:
        return _NRRD_SPACES[name]
    if name in (plain.lower() for plain in _NRRD_PLAIN_SPACES):
        return None
    if name in _NRRD_TIME_SPACES:
        raise ValueError(f"{path}: space {value!r} has a time axis: a 3-D scalar volume in a 3-D space is required")
    known = [f"{long} ({code})" for code, long in _NRRD_SPACE_NAMES.items()] + list(_NRRD_PLAIN_SPACES)
    raise ValueError(f"{path}: unknown NRRD space {value!r}; the reader knows {', '.join(known)}")


def _nrrd_geometry(header: dict[str, Any], path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    sizes = tuple(int(size) for size in header["sizes"])
    if int(header.get("dimension", len(sizes))) != len(sizes):
        raise ValueError(f"{path}: cannot read NRRD: dimension {header['dimension']} but {len(sizes)} sizes")
    kinds = [str(kind).lower() for kind in header.get("kinds", ["none"] * len(sizes))]
    non_spatial = {axis for axis, kind in enumerate(kinds) if kind not in _SPATIAL_KINDS}
    rows = header.get("space directions")
    if rows is not None:
        rows = np.asarray(rows, dtype=np.float64)
        # pynrrd reads a "none" space direction, which marks a non-spatial axis, as a row of NaN.
        non_spatial |= {axis for axis in range(len(rows)) if np.isnan(rows[axis]).all()}
    if len(sizes) != 3 or non_spatial:
        detail = f" with non-spatial axes {sorted(non_spatial)} (vector, colour or time)" if non_spatial else ""
        raise ValueError(f"{path}: {len(sizes)}-D data of sizes {sizes}{detail}: a 3-D scalar volume is required")
    space = _nrrd_space(header, path)
    units = [str(unit) for unit in header.get("space units", [])]
    if any(unit not in ("mm", "") for unit in units):
        raise ValueError(f"{path}: space units {units}: only mm is supported")

    origin = header.get("space origin", np.zeros(3))
    if rows is not None:
        if rows.shape != (3, 3):
            raise ValueError(f"{path}: space directions of a {rows.shape[1]}-D space: a 3-D space is required")
        # Volume rejects a zero-length axis (spacing 0) and normalises the rows.
        return np.linalg.norm(rows, axis=1), rows, origin, space
    # Without space directions nothing ties the axes to the patient, whatever the space field says.
    return header.get("spacings", np.ones(3)), np.eye(3), origin, None


def read_nrrd(path: str | os.PathLike[str]) -> Volume:
    """Read a 3-D scalar NRRD file with attached (``.nrrd``) or detached (``.nhdr`` + data file) data.

    Geometry comes from ``space directions`` (spacing = vector lengths, directions = unit vectors) and
    ``space origin``; without space directions, from ``spacings`` with identity directions. The ``space`` field
    (any case) gives :attr:`~medgan_aug.data.Volume.space`: ``right-anterior-superior``/``RAS``,
    ``left-anterior-superior``/``LAS`` and ``left-posterior-superior``/``LPS`` name the anatomical frames;
    ``scanner-xyz``, ``3D-right-handed`` and ``3D-left-handed``, a header with ``space dimension`` instead, and any
    file without space directions (so without a direction matrix) give None. All NRRD scalar types, both
    endiannesses and the raw, ascii, gzip and bzip2 encodings are read (through pynrrd).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.nrrd`` or ``.nhdr`` file.

    Returns
    -------
    Volume
        Axis ``k`` of ``data`` is the header's ``k``-th axis (the fastest varying first).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is truncated or corrupt, its detached data file is missing, it does not hold a 3-D scalar
        volume, its ``space`` is unknown or has a time axis, or its geometry is invalid (such as non-orthogonal
        space directions).
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            return _read_nrrd_file(file, path)
    except FileNotFoundError:
        # Only opening ``path`` itself can end here: _read_nrrd_file turns a missing data file into ValueError.
        raise FileNotFoundError(f"{path}: no such NRRD file") from None


def _read_nrrd_file(file: BinaryIO, path: Path) -> Volume:
    try:
        header = nrrd.read_header(file)
    except StopIteration as error:
        raise ValueError(f"{path}: cannot read NRRD: the file is empty") from error
    except Exception as error:
        # pynrrd reports bad headers as NRRDError, ValueError, KeyError, ... depending on the field.
        raise _unreadable(path, error) from error
    if "sizes" not in header:
        raise ValueError(f"{path}: cannot read NRRD: the header has no sizes field")
    # Checked before the data is read, so that vector or 4-D files fail fast and with the reason.
    spacing, directions, origin, space = _nrrd_geometry(header, path)
    try:
        data = nrrd.read_data(header, file, str(path), index_order="F")
    except Exception as error:
        # Short or cut data, a broken compressed stream and a missing detached data file all end here.
        raise _unreadable(path, error) from error
    expected = tuple(int(size) for size in header["sizes"])
    if data.shape != expected:
        raise ValueError(f"{path}: cannot read NRRD: data of shape {data.shape}, the header's sizes are {expected}")
    return Volume(data=data, spacing=spacing, directions=directions, origin=origin, source=str(path), space=space)


def write_nrrd(volume: Volume, path: str | os.PathLike[str], *, encoding: Literal["gzip", "raw"] = "gzip") -> Path:
    """Write a volume to a ``.nrrd`` file with attached float32 data, atomically.

    The header holds ``space`` (such as ``left-posterior-superior``; ``space dimension: 3`` when
    :attr:`~medgan_aug.data.Volume.space` is None), ``space directions`` (``spacing[k] * directions[k]`` per axis)
    and ``space origin``, so :func:`read_nrrd` gives back the same data (bit-exact), geometry and frame.

    Parameters
    ----------
    volume : Volume
        The volume to write.
    path : str or os.PathLike
        Destination ending in ``.nrrd``; its directory must exist. An existing file is replaced only once the
        new one is complete.
    encoding : {"gzip", "raw"}, optional
        Data encoding.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if encoding not in ("gzip", "raw"):
        raise ValueError(f"encoding must be 'gzip' or 'raw', got {encoding!r}")
    path = Path(path)
    if path.suffix.lower() != ".nrrd":
        raise ValueError(f"{path}: write_nrrd writes header and data in one file: the name must end in .nrrd")
    # NRRD allows either a named space or a bare space dimension, not both.
    space = {"space dimension": 3} if volume.space is None else {"space": _NRRD_SPACE_NAMES[volume.space]}
    header = {
        "encoding": encoding,
        "kinds": ["domain", "domain", "domain"],
        **space,
        "space directions": volume.directions * volume.spacing[:, None],
        "space origin": volume.origin,
    }
    # On a 200^3 volume of 8-bit ultrasound values, deflate level 3 came within 6 % of level 6's size in a quarter
    # of its time; pynrrd's default, 9, took 40 times as long as 3 for a further 14 %.
    return atomic_write(path, lambda file: nrrd.write(file, volume.data, header, compression_level=3, index_order="F"))


def _dicom_vector(dataset: Any, keyword: str, length: int, file: Path) -> np.ndarray:
    value = dataset.get(keyword)
    if value is None:
        raise ValueError(f"{file}: DICOM image without {keyword}")
    try:
        vector = np.array([float(item) for item in value], dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{file}: {keyword} must be {length} numbers, got {value!r}") from error
    if vector.shape != (length,) or not np.isfinite(vector).all():
        raise ValueError(f"{file}: {keyword} must be {length} finite numbers, got {value!r}")
    return vector


def _dicom_images(directory: Path) -> list[tuple[Path, Any]]:
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as error:
        raise ImportError(_DICOM_INSTALL_HINT) from error

    images = []
    for file in sorted(entry for entry in directory.iterdir() if entry.is_file()):
        try:
            # Deferring large values keeps the pixel data on disk until the slices are sorted.
            dataset = pydicom.dcmread(file, defer_size="64 KB")
        except InvalidDicomError:
            continue
        except Exception as error:
            raise ValueError(f"{file}: cannot read DICOM: {error}") from error
        if "PixelData" in dataset:
            images.append((file, dataset))
        elif "TransferSyntaxUID" not in dataset.file_meta or "Rows" in dataset:
            # pydicom reads a truncated file as far as it goes; skipping it would silently drop a slice.
            raise ValueError(f"{file}: DICOM file without pixel data is truncated or corrupt")
    return images


def read_dicom_series(directory: str | os.PathLike[str]) -> Volume:
    """Read one DICOM series of parallel, equally spaced 2-D slices from the files in a directory.

    Files that are not DICOM, and DICOM files without an image (such as a DICOMDIR), are ignored.
    Slices are sorted along the slice normal (``ImageOrientationPatient`` row x column direction) by their
    ``ImagePositionPatient``; ``RescaleSlope``/``RescaleIntercept`` are applied.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding the slice files (subdirectories are not searched).

    Returns
    -------
    Volume
        ``data[c, r, s]`` is column ``c``, row ``r`` of slice ``s``: index axis 0 runs along the image rows'
        direction (x), axis 1 along the columns' (y), axis 2 along the slice normal, as in ITK and NRRD.
        ``spacing`` is (column spacing, row spacing, slice spacing) in mm; ``origin`` is the first slice's
        ``ImagePositionPatient``; ``space`` is ``"LPS"``, the DICOM patient frame.

    Raises
    ------
    ImportError
        If pydicom is not installed.
    ValueError
        If the directory holds fewer than 2 slices or several series, the slices disagree in size or
        orientation, their spacing is not uniform to within 1 %, or a file is corrupt.
    """
    directory = Path(directory)
    if not directory.is_dir():
        if not directory.exists():
            raise FileNotFoundError(f"{directory}: no such directory")
        raise NotADirectoryError(f"{directory}: read_dicom_series needs a directory of slice files")

    images = _dicom_images(directory)
    series = sorted({str(dataset.get("SeriesInstanceUID", "<none>")) for _, dataset in images})
    if len(series) > 1:
        raise ValueError(f"{directory}: {len(series)} DICOM series in one directory: {', '.join(series)}")
    if len(images) < 2:
        raise ValueError(f"{directory}: {len(images)} DICOM image(s) found: a series of at least 2 slices is needed")

    first_file, first = images[0]
    orientation = _dicom_vector(first, "ImageOrientationPatient", 6, first_file)
    pixel_spacing = _dicom_vector(first, "PixelSpacing", 2, first_file)
    size = (int(first.get("Rows", 0)), int(first.get("Columns", 0)))
    for file, dataset in images:
        if int(dataset.get("NumberOfFrames", 1) or 1) != 1:
            raise ValueError(f"{file}: multi-frame DICOM images are not supported")
        if int(dataset.get("SamplesPerPixel", 1)) != 1:
            raise ValueError(f"{file}: {dataset.SamplesPerPixel} samples per pixel: a scalar image is required")
        if (int(dataset.get("Rows", 0)), int(dataset.get("Columns", 0))) != size:
            raise ValueError(
                f"{file}: {dataset.get('Rows')} x {dataset.get('Columns')} pixels, {first_file} has "
                f"{size[0]} x {size[1]}"
            )
        if np.abs(_dicom_vector(dataset, "ImageOrientationPatient", 6, file) - orientation).max() > 1e-4:
            raise ValueError(f"{file}: ImageOrientationPatient differs from {first_file}'s")
        if not np.allclose(_dicom_vector(dataset, "PixelSpacing", 2, file), pixel_spacing, rtol=1e-4, atol=0):
            raise ValueError(f"{file}: PixelSpacing differs from {first_file}'s")

    row_direction, column_direction = orientation[:3], orientation[3:]
    normal = np.cross(row_direction, column_direction)
    positions = np.stack([_dicom_vector(dataset, "ImagePositionPatient", 3, file) for file, dataset in images])
    order = np.argsort(positions @ normal, kind="stable")
    images = [images[i] for i in order]
    positions = positions[order]

    gaps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    for i, gap in enumerate(gaps):
        if gap < 1e-6:
            raise ValueError(f"{images[i][0]} and {images[i + 1][0]} are at the same position")
    step = (positions[-1] - positions[0]) / (len(images) - 1)
    slice_spacing = float(np.linalg.norm(step))
    deviation = np.linalg.norm(positions - positions[0] - np.arange(len(images))[:, None] * step, axis=1)
    worst = int(np.argmax(deviation))
    if deviation[worst] > _SLICE_SPACING_TOLERANCE * slice_spacing:
        raise ValueError(
            f"{directory}: slices are not equally spaced: {images[worst][0].name} is {deviation[worst]:.4g} mm off "
            f"the uniform grid of spacing {slice_spacing:.4g} mm (limit {_SLICE_SPACING_TOLERANCE:.0%})"
        )

    rows, columns = size
    data = np.empty((columns, rows, len(images)), dtype=np.float32)
    for index, (file, dataset) in enumerate(images):
        try:
            pixels = dataset.pixel_array
        except Exception as error:
            raise ValueError(f"{file}: cannot decode the DICOM pixel data: {error}") from error
        slope = float(dataset.get("RescaleSlope", 1.0))
        intercept = float(dataset.get("RescaleIntercept", 0.0))
        data[:, :, index] = (pixels.astype(np.float64) * slope + intercept).T

    # The step direction, not the normal, is axis 2: a tilted stack then fails Volume's orthonormality check.
    return Volume(
        data=data,
        spacing=(pixel_spacing[1], pixel_spacing[0], slice_spacing),
        directions=np.stack([row_direction, column_direction, step / slice_spacing]),
        origin=positions[0],
        source=str(directory),
        space="LPS",
    )
