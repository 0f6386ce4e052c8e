"""Turn 2D medical images (PNG, JPEG, DICOM) into a square, windowed, training-ready image folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch
from PIL import Image

from .dataset_writer import DatasetWriter, split_by_patient
from .images import RESIZE_MODES, ResizeMode, _channels_of, _decode, _open, resize_square
from .intensity import IntensityWindow, encode_pixels

__all__ = ["is_dicom", "prepare_images", "read_image_raw"]

_PILLOW_16BIT = frozenset({"I;16", "I;16L", "I;16B", "I"})
_DICOM_INSTALL = 'pip install "medgan-aug[dicom]"'


class _Raw(NamedTuple):
    pixels: np.ndarray  # float32 [H, W] or [H, W, 3], raw intensities
    window: IntensityWindow | None  # the file's own window (DICOM header)
    full_range: IntensityWindow  # every value the file's pixel format can hold


def is_dicom(path: Path) -> bool:
    """Whether the file carries the DICOM Part 10 signature ('DICM' after a 128-byte preamble).

    Parameters
    ----------
    path : pathlib.Path
        The file to look at (only its first 132 bytes are read).

    Returns
    -------
    bool
    """
    with open(path, "rb") as f:
        head = f.read(132)
    return head[128:132] == b"DICM"


def _first_number(value: object) -> float | None:
    """A DICOM numeric attribute as a float: the first of a multi-valued one; None when absent or empty."""
    if value is None or value == "":
        return None
    if not isinstance(value, (str, bytes)) and isinstance(value, Sequence):
        if len(value) == 0:
            return None
        value = value[0]
    return float(value)


def _read_dicom(path: Path) -> _Raw:
    try:
        import pydicom
    except ImportError as error:
        raise ImportError(f"{path} is a DICOM file; reading it needs pydicom: {_DICOM_INSTALL}") from error
    try:
        # force: some .dcm files lack the 128-byte preamble and 'DICM' signature but are valid datasets.
        ds = pydicom.dcmread(path, force=True)
        stored = ds.pixel_array
    except Exception as error:
        # pydicom raises many types (InvalidDicomError, AttributeError for missing pixel data, NotImplementedError
        # for compressed transfer syntaxes without a decoder, ...); one ValueError naming the file is enough.
        raise ValueError(f"{path}: cannot read DICOM pixel data: {error}") from error
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    ybr_to_rgb = photometric.startswith("YBR") and int(pydicom.__version__.split(".")[0]) >= 3
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        expected_ndim = 2
    elif photometric == "RGB" or ybr_to_rgb:  # pydicom >= 3 converts YBR to RGB in pixel_array
        expected_ndim = 3
    else:
        raise ValueError(f"{path}: unsupported DICOM PhotometricInterpretation {photometric!r}")
    if stored.ndim != expected_ndim:
        raise ValueError(
            f"{path}: expected one {photometric} frame, got pixel data of shape {stored.shape} "
            "(multi-frame files are volumes: slice them instead)"
        )

    if np.issubdtype(stored.dtype, np.integer):
        bits = int(ds.get("BitsStored", stored.dtype.itemsize * 8))
        signed = int(ds.get("PixelRepresentation", 0)) == 1
        stored_low, stored_high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    else:  # float pixel data has no stored-bits range; its own extent stands in
        stored_low, stored_high = float(np.nanmin(stored)), float(np.nanmax(stored))
    if expected_ndim == 3:
        return _Raw(stored.astype(np.float32), None, IntensityWindow(stored_low, max(stored_high, stored_low + 1)))

    try:
        slope = _first_number(ds.get("RescaleSlope"))
        intercept = _first_number(ds.get("RescaleIntercept"))
        center = _first_number(ds.get("WindowCenter"))
        width = _first_number(ds.get("WindowWidth"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: unreadable rescale or window attribute: {error}") from error
    slope = 1.0 if slope is None else slope
    intercept = 0.0 if intercept is None else intercept
    values = stored.astype(np.float64) * slope + intercept
    low, high = sorted((stored_low * slope + intercept, stored_high * slope + intercept))
    full_range = IntensityWindow(low, max(high, low + 1))
    window = None
    if center is not None and width is not None:
        try:
            window = IntensityWindow.from_center_width(center, width)
        except ValueError as error:
            raise ValueError(
                f"{path}: invalid DICOM window (WindowCenter {center}, WindowWidth {width}): {error}"
            ) from error
    if photometric == "MONOCHROME1":
        # MONOCHROME1 displays low values bright. Reflecting within the format's range keeps the values in that
        # range while making bright = high, so the same window/percentile code applies.
        mirror = full_range.low + full_range.high
        values = mirror - values
        if window is not None:
            window = IntensityWindow(mirror - window.high, mirror - window.low)
    return _Raw(values.astype(np.float32), window, full_range)


def _read_pillow(image: Image.Image, path: Path) -> _Raw:
    channels = _channels_of(image, path)
    pixels = _decode(image, path)
    if image.mode in _PILLOW_16BIT:
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise ValueError(f"{path}: values in [{pixels.min()}, {pixels.max()}], outside the 16-bit range")
        full_range = IntensityWindow(0, 65535)
    else:
        full_range = IntensityWindow(0, 255)
    # 'LA' and Pillow's 16-bit gray+alpha 'RGBA' carry the gray value in their first band; colour drops alpha.
    if channels == 3:
        pixels = pixels[:, :, :3]
    elif pixels.ndim == 3:
        pixels = pixels[:, :, 0]
    return _Raw(np.ascontiguousarray(pixels, dtype=np.float32), None, full_range)


def _read(path: Path) -> _Raw:
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist" if not path.exists() else f"{path} is not a file")
    if path.suffix.lower() == ".dcm":
        return _read_dicom(path)
    try:
        image = _open(path)
    except ValueError:
        if is_dicom(path):
            return _read_dicom(path)
        raise
    with image:
        return _read_pillow(image, path)


def read_image_raw(path: str | os.PathLike[str]) -> tuple[np.ndarray, IntensityWindow | None]:
    """Decode an image to its raw intensities and the window stored in the file, if any.

    Parameters
    ----------
    path : str or os.PathLike
        A PNG or JPEG file (8- or 16-bit grayscale, or colour; palettes become RGB and alpha is dropped,
        as in :func:`load_image`), or a DICOM file: ``.dcm``, or any file with the DICOM signature that
        Pillow cannot read. DICOM needs pydicom (``pip install "medgan-aug[dicom]"``).

    Returns
    -------
    pixels : numpy.ndarray
        float32 ``[H, W]`` (grayscale) or ``[H, W, 3]`` (colour) holding the stored values: 0-255 for
        8-bit, 0-65535 for 16-bit images. For DICOM, ``stored * RescaleSlope + RescaleIntercept``
        (e.g. Hounsfield units); MONOCHROME1 images are reflected within the range the pixel format can
        hold (after rescaling) so that bright is high.
    window : IntensityWindow or None
        For grayscale DICOM, the header's WindowCenter/WindowWidth (the first pair if there are several),
        in the units of ``pixels``; None for other files and for DICOM without a window.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file cannot be decoded or its format is not supported; the message names the file.
    ImportError
        If the file is DICOM and pydicom is not installed.
    """
    raw = _read(Path(path))
    return raw.pixels, raw.window


def _check_percentiles(percentiles: object) -> tuple[float, float]:
    if not (isinstance(percentiles, Sequence) and len(percentiles) == 2):
        raise ValueError(f"percentiles must be a pair (low, high), got {percentiles!r}")
    low, high = percentiles
    if not all(isinstance(p, (int, float)) and 0 <= p <= 100 for p in (low, high)) or not low < high:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return float(low), float(high)


def _safe_name(stem: str) -> str:
    # Dataset names are single path components, never hidden (ImageFolderDataset skips dot files).
    name = "".join("_" if c in "/\\\0" else c for c in stem).lstrip(".")
    return name or "image"


def _unique_names(paths: list[Path], labels: list[str]) -> list[str]:
    taken: set[tuple[str, str]] = set()
    names = []
    for path, label in zip(paths, labels, strict=True):
        stem = _safe_name(path.stem)
        name, counter = stem, 0
        # Compared ignoring case, like DatasetWriter, so that the folder works on case-insensitive file systems.
        while (label.casefold(), name.casefold()) in taken:
            counter += 1
            name = f"{stem}_{counter}"
        taken.add((label.casefold(), name.casefold()))
        names.append(name)
    return names


def _labels_of(paths: list[Path], labels: Literal["parent", "none"] | Mapping[str, str]) -> list[str]:
    if isinstance(labels, Mapping):
        missing = [str(p) for p in paths if str(p) not in labels]
        if missing:
            shown = ", ".join(missing[:5]) + (f", ... ({len(missing) - 5} more)" if len(missing) > 5 else "")
            raise ValueError(f"labels has no entry for {len(missing)} image(s): {shown}")
        return [labels[str(p)] for p in paths]
    if labels == "parent":
        return [p.absolute().parent.name for p in paths]
    if labels == "none":
        return ["images"] * len(paths)
    raise ValueError(f"labels must be 'parent', 'none' or a mapping of path to label, got {labels!r}")


def prepare_images(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    size: int = 512,
    resize: ResizeMode = "letterbox",
    window: IntensityWindow | tuple[float, float] | None = None,
    percentiles: tuple[float, float] | None = None,
    bits: Literal[8, 16] = 8,
    rgb: bool = False,
    labels: Literal["parent", "none"] | Mapping[str, str] = "parent",
    patient_id: Callable[[Path], str] | None = None,
    split: tuple[float, float, float] | None = None,
    seed: int = 0,
    manifest: Literal["csv", "json"] = "csv",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Window, resize and encode 2D images into a training folder with a manifest, all or nothing.

    Each image is read with its raw intensities (:func:`read_image_raw`), mapped to [0, 1] by the first
    of: ``window``; the per-image ``percentiles``; the DICOM header's window; the full range of the
    pixel format (0-255 for 8-bit, 0-65535 for 16-bit, the stored-bits range for DICOM). It is then
    resized to ``size`` x ``size`` with :func:`resize_square`, encoded with :func:`encode_pixels` and
    written with :class:`DatasetWriter` as ``[<split>/]<label>/<name>.png``. The manifest records
    ``source``, ``patient_id``, ``orig_height``, ``orig_width``, ``window_low`` and ``window_high``.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        The image files (PNG, JPEG, DICOM).
    out_dir : str or os.PathLike
        The dataset folder to create.
    size : int
        Side of the square output images.
    resize : {"letterbox", "center-crop", "stretch"}
        How a rectangular image becomes square; letterbox keeps the aspect ratio and pads with 0.
    window : IntensityWindow or (center, width), optional
        One window for every image, e.g. ``(40, 400)`` for a CT soft-tissue window.
    percentiles : (low, high), optional
        Per-image window from these percentiles of the image's values (e.g. ``(0.5, 99.5)``).
        Cannot be combined with ``window``.
    bits : {8, 16}
        Bits per channel of the PNGs (colour images need 8).
    rgb : bool
        Write grayscale images as three identical channels (to mix them with colour images).
    labels : {"parent", "none"} or mapping of str to str
        Class folder of each image: its parent folder's name, the single folder ``"images"``, or
        ``labels[str(path)]``.
    patient_id : callable, optional
        ``Path -> patient id``; default: the file stem.
    split : (train, val, test) fractions, optional
        Split the patients with :func:`split_by_patient` (``seed``) into ``train``/``val``/``test`` folders.
    seed : int
        Seed of the patient split.
    manifest : {"csv", "json"}
        Manifest format.
    overwrite : bool
        Replace a non-empty ``out_dir`` (only once the new folder is complete).
    progress : bool
        Show a progress bar.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    from tqdm.auto import tqdm

    files = [Path(p) for p in paths]
    if not files:
        raise ValueError("no images given")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if window is not None and percentiles is not None:
        raise ValueError("give either window or percentiles, not both")
    if window is not None and not isinstance(window, IntensityWindow):
        if not (isinstance(window, Sequence) and len(window) == 2):
            raise ValueError(f"window must be an IntensityWindow or a (center, width) pair, got {window!r}")
        window = IntensityWindow.from_center_width(*window)
    bounds = None if percentiles is None else _check_percentiles(percentiles)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) do not exist or are not files: {', '.join(missing[:5])}")
    class_names = _labels_of(files, labels)
    names = _unique_names(files, class_names)
    patients = [p.stem if patient_id is None else patient_id(p) for p in files]
    for path, patient in zip(files, patients, strict=True):
        if not isinstance(patient, str) or not patient:
            raise ValueError(f"patient_id({path}) must return a non-empty string, got {patient!r}")
    assignment = None if split is None else split_by_patient(patients, split, seed)

    writer = DatasetWriter(out_dir, manifest=manifest, split=assignment, overwrite=overwrite, bits=bits)
    with writer:
        items = zip(files, class_names, names, patients, strict=True)
        for path, label, name, patient in tqdm(
            items, total=len(files), desc="prepare", unit="image", disable=not progress
        ):
            raw = _read(path)
            if window is not None:
                chosen = window
            elif bounds is not None:
                chosen = IntensityWindow.from_percentiles(raw.pixels, *bounds)
            else:
                chosen = raw.full_range if raw.window is None else raw.window
            mapped = torch.from_numpy(chosen.apply(raw.pixels))
            chw = mapped[None] if mapped.ndim == 2 else mapped.permute(2, 0, 1)
            # Resampling weights sum to 1 only up to rounding, which can overshoot [0, 1] by an ulp.
            square = resize_square(chw, size, resize).clamp(0, 1)
            hwc = square[0] if square.shape[0] == 1 else square.permute(1, 2, 0)
            try:
                writer.add(
                    encode_pixels(hwc.numpy(), bits, rgb),
                    label,
                    name,
                    source=str(path),
                    patient_id=patient,
                    orig_height=int(raw.pixels.shape[0]),
                    orig_width=int(raw.pixels.shape[1]),
                    window_low=chosen.low,
                    window_high=chosen.high,
                )
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
    return Path(out_dir)
