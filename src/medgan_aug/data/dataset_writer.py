"""Write a training-ready image folder (optionally with label masks) and a manifest, all or nothing."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from PIL import Image

__all__ = ["SPLITS", "DatasetWriter", "check_fractions", "read_manifest", "split_by_patient", "split_counts"]

SPLITS: tuple[str, str, str] = ("train", "val", "test")
"""The split names, in the order of the ``fractions`` of :func:`split_by_patient`."""

_RESERVED_FIELDS = ("file", "label", "split")
# Folders of a paired dataset, side by side in the dataset (or split) folder; PairedImageFolderDataset reads them.
_IMAGES_FOLDER = "images"


def mask_folder(index: int) -> str:
    """Folder name of mask channel ``index`` in a paired dataset: ``masks``, ``masks_1``, ..."""
    return "masks" if index == 0 else f"masks_{index}"


def paired_images_folder(folder: str | os.PathLike[str]) -> Path:
    """The folder of images in ``folder``: its ``images/`` for a paired folder, else ``folder`` itself.

    A paired folder holds ``images/`` beside ``masks/``, as ``DatasetWriter(masks=True)`` writes it.

    Parameters
    ----------
    folder : str or os.PathLike
        A dataset folder.

    Returns
    -------
    pathlib.Path
    """
    folder = Path(folder)
    paired = (folder / _IMAGES_FOLDER).is_dir() and (folder / mask_folder(0)).is_dir()
    return folder / _IMAGES_FOLDER if paired else folder


def _mask_column(index: int, name: str) -> str:
    return name if index == 0 else f"{name}_{index}"


# zlib level 3 encodes 256 px medical planes 2.4x faster than Pillow's default 6, for files about 5% larger
# (measured on ultrasound-like planes); writing PNGs dominates the time of slicing a volume.
_PNG_COMPRESS_LEVEL = 3


def check_fractions(fractions: Iterable[float]) -> tuple[float, ...]:
    """Check train / val / test fractions: three finite numbers >= 0 that sum to 1.

    Parameters
    ----------
    fractions : iterable of float
        ``(train, val, test)``.

    Returns
    -------
    tuple of float
        The fractions as floats; a ValueError names what is wrong otherwise.
    """
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as error:
        raise ValueError(f"fractions must be three numbers (train, val, test), got {fractions!r}") from error
    if len(values) != len(SPLITS):
        raise ValueError(f"fractions must be three numbers (train, val, test), got {len(values)}: {fractions!r}")
    if not all(math.isfinite(f) and f >= 0 for f in values):
        raise ValueError(f"fractions must be finite and >= 0, got {fractions!r}")
    if abs(sum(values) - 1) > 1e-6:
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(values):g})")
    return values


def split_counts(fractions: tuple[float, ...], n: int) -> list[int]:
    """Patients per split: largest-remainder rounding of ``fractions * n``, then one for each non-zero fraction.

    Parameters
    ----------
    fractions : tuple of float
        Checked fractions (see :func:`check_fractions`).
    n : int
        Patients to share out, at least the number of non-zero fractions.

    Returns
    -------
    list of int
        Patients per split, summing to ``n``.
    """
    total = sum(fractions)
    quotas = [f / total * n for f in fractions]
    counts = [math.floor(q) for q in quotas]
    # Leftover patients go to the largest fractional parts; ties go to the earlier split (train first).
    by_remainder = sorted((i for i, f in enumerate(fractions) if f > 0), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    for needy in (i for i, f in enumerate(fractions) if f > 0 and counts[i] == 0):
        # A donor with two or more exists: the non-zero splits hold n >= (their number) patients and one holds 0.
        donor = max(range(len(counts)), key=lambda i: (counts[i], -i))
        counts[donor] -= 1
        counts[needy] += 1
    return counts


def split_by_patient(
    patient_ids: Iterable[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, str]:
    """Assign every patient to "train", "val" or "test", so that no patient's images straddle two splits.

    The sorted distinct ids are shuffled with ``numpy.random.default_rng(seed)`` and cut into contiguous
    blocks whose sizes are the largest-remainder rounding of ``fractions * n_patients``; a split with a
    non-zero fraction then gets at least one patient (taken from the largest split).

    Parameters
    ----------
    patient_ids : iterable of str
        Patient ids, repeats allowed (one per image, say).
    fractions : tuple of three floats
        Shares of train, val and test; each >= 0, summing to 1 (within 1e-6).
    seed : int
        Seed of the shuffle; the same ids, fractions and seed always give the same split.

    Returns
    -------
    dict of str to str
        Each distinct patient id mapped to its split name.

    Raises
    ------
    ValueError
        If the fractions are invalid or there are fewer distinct patients than non-zero fractions.
    """
    shares = check_fractions(fractions)
    ids = set()
    for pid in patient_ids:
        if not isinstance(pid, str):
            raise TypeError(f"patient ids must be strings, got {pid!r}")
        ids.add(pid)
    ordered = sorted(ids)
    needed = sum(f > 0 for f in shares)
    if len(ordered) < needed:
        raise ValueError(
            f"{len(ordered)} distinct patients cannot fill {needed} splits with non-zero fractions {fractions!r}"
        )
    shuffled = [ordered[i] for i in np.random.default_rng(seed).permutation(len(ordered))]
    assignment: dict[str, str] = {}
    start = 0
    for name, count in zip(SPLITS, split_counts(shares, len(ordered)), strict=True):
        assignment.update((pid, name) for pid in shuffled[start : start + count])
        start += count
    return assignment


def _check_component(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if any(c in value for c in "/\\\0"):
        raise ValueError(f"{what} {value!r} must be a single path component (no '/', '\\' or NUL)")
    if value.startswith("."):
        # Also rules out '.' and '..'; and ImageFolderDataset skips hidden files and folders.
        raise ValueError(f"{what} {value!r} must not start with '.'")
    return value


def _field_value(key: str, value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValueError(f"manifest field {key!r} must be a string, number, bool or None, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"manifest field {key!r} must be finite, got {value}")
    return value


def _field_values(fields: Mapping[str, object]) -> dict[str, object]:
    """The extra manifest columns of a row, checked: none of the writer's own, every value of a storable type."""
    reserved = [key for key in fields if key in _RESERVED_FIELDS]
    if reserved:
        own = ", ".join(_RESERVED_FIELDS)
        raise ValueError(f"manifest fields {reserved} are reserved ({own} are set by the writer)")
    return {key: _field_value(key, value) for key, value in fields.items()}


def _save(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)


def _is_empty_dir(path: Path) -> bool:
    with os.scandir(path) as entries:
        return next(entries, None) is None


class DatasetWriter:
    """Writes a training-ready image folder and its manifest, all or nothing.

    Use it as a context manager. Images go to ``<label>/<name>.png`` (or ``<split>/<label>/<name>.png``)
    in a staging folder ``.<out_dir name>.tmp-XXXX`` beside ``out_dir``; leaving the ``with`` block
    normally writes ``manifest.csv`` or ``manifest.json`` and renames the staging folder to ``out_dir``.
    An exception inside the block deletes the staging folder and leaves ``out_dir`` as it was.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The dataset folder to create. Its parent is created if missing.
    manifest : {"csv", "json"}
        Manifest format: ``manifest.csv`` (columns ``file``, ``label``, then the extra fields in
        first-seen order) or ``manifest.json`` (a list of row objects).
    split : mapping of str to str, optional
        Patient id -> "train", "val" or "test" (see :func:`split_by_patient`); every :meth:`add` then
        needs a ``patient_id`` field and the images go into split folders.
    overwrite : bool
        Replace an existing non-empty ``out_dir``; the old folder is removed only once the new one is
        complete. Without it, a non-empty ``out_dir`` is a :class:`FileExistsError`.
    bits : {8, 16}
        Bits per channel of the images: :meth:`add` takes uint8 pixels for 8 and uint16 for 16.
    masks : bool
        Write a paired dataset: every :meth:`add` takes a ``mask``, images go to ``[<split>/]images/<label>/``
        and their masks (8-bit PNG, 0 background and 255 foreground) to ``[<split>/]masks/<label>/`` under the
        same name (further mask channels to ``masks_1/``, ``masks_2/``, ...), the layout
        :class:`~medgan_aug.data.PairedImageFolderDataset` reads. The manifest gains a ``mask`` column (the
        mask's relative path) and, unless given, a ``foreground`` column (the mask's mean); ``mask_1``,
        ``foreground_1``, ... for further channels.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        manifest: Literal["csv", "json"] = "csv",
        split: Mapping[str, str] | None = None,
        overwrite: bool = False,
        bits: Literal[8, 16] = 8,
        masks: bool = False,
    ) -> None:
        if manifest not in ("csv", "json"):
            raise ValueError(f"manifest must be 'csv' or 'json', got {manifest!r}")
        if bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {bits!r}")
        if split is not None:
            unknown = sorted({str(s) for s in split.values() if s not in SPLITS})
            if unknown:
                raise ValueError(f"split maps patients to {unknown}; the splits are {SPLITS}")
        self.out_dir = Path(out_dir).absolute()
        if self.out_dir.is_symlink():
            # The dataset replaces the link's target; renaming onto the link itself would fail or drop the link.
            self.out_dir = self.out_dir.resolve()
        self.manifest = manifest
        self.split = None if split is None else dict(split)
        self.overwrite = bool(overwrite)
        self.bits = bits
        self.masks = bool(masks)
        self._check_destination()
        self._staging: Path | None = None
        self._done = False
        self._rows: list[dict[str, Any]] = []
        self._taken: set[tuple[str, str]] = set()
        self._mask_count: int | None = None
        self._channels: tuple[int, str] | None = None

    def _check_destination(self) -> None:
        if self.out_dir.exists():
            if not self.out_dir.is_dir():
                raise FileExistsError(f"output folder {self.out_dir} exists and is not a directory")
            if not self.overwrite and not _is_empty_dir(self.out_dir):
                raise FileExistsError(f"output folder {self.out_dir} exists and is not empty (use overwrite=True)")

    def __enter__(self) -> DatasetWriter:
        """Create the staging folder; returns the writer."""
        if self._staging is not None or self._done:
            raise RuntimeError("a DatasetWriter can be entered only once")
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-", dir=self.out_dir.parent))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Publish the folder if the block succeeded, otherwise discard it; exceptions propagate."""
        staging, self._staging = self._staging, None
        self._done = True
        if staging is None:
            return
        try:
            if exc_type is None:
                self._write_manifest(staging)
                self._publish(staging)
        finally:
            # After a successful publish the staging folder no longer exists and this does nothing.
            shutil.rmtree(staging, ignore_errors=True)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The manifest rows added so far (a copy)."""
        return [dict(row) for row in self._rows]

    def add(
        self,
        pixels: np.ndarray,
        label: str,
        name: str,
        *,
        mask: np.ndarray | Sequence[np.ndarray] | None = None,
        **fields: object,
    ) -> str:
        """Write one image as ``[<split>/]<label>/<name>.png`` and record its manifest row.

        With ``masks=True`` the image goes to ``[<split>/]images/<label>/<name>.png`` and its mask to
        ``[<split>/]masks/<label>/<name>.png``.

        Parameters
        ----------
        pixels : numpy.ndarray
            uint8 (``bits=8``) or uint16 (``bits=16``) array ``[H, W]`` or ``[H, W, 3]``, as made by
            :func:`encode_pixels`. 16-bit colour is not supported (Pillow cannot write it). All images
            must have the same number of channels, as :class:`ImageFolderDataset` requires.
        mask : numpy.ndarray or sequence of numpy.ndarray, optional
            Required with ``masks=True`` (and refused without): bool or integer ``[H, W]`` array of the image's
            height and width, non-zero where the image shows the foreground; at most one non-zero value, so that
            several classes are not merged silently. Several masks (a sequence or an ``[M, H, W]`` array) are
            mask channels 0, 1, ...; every image needs the same number.
        label : str
            Class folder name.
        name : str
            File name without ``.png``; ``(label, name)`` must be unique, ignoring case (so the folder
            also works on case-insensitive file systems).
        **fields
            Extra manifest columns (strings, numbers, bools or None). With ``split``, ``patient_id`` is
            required and chooses the split folder. ``foreground`` defaults to the mask's mean with ``masks=True``.

        Returns
        -------
        str
            The image's path relative to the dataset folder, with '/' separators.
        """
        if self._staging is None:
            raise RuntimeError("DatasetWriter.add must be called inside its with-block")
        _check_component(label, "label")
        _check_component(name, "name")
        values = _field_values(fields)
        image = self._check_pixels(pixels, f"{label}/{name}")
        foregrounds = self._check_masks(mask, pixels.shape[:2], f"{label}/{name}")

        split_name: str | None = None
        if self.split is not None:
            if "patient_id" not in fields:
                raise ValueError(f"image {label}/{name}: a split needs a patient_id field")
            patient = values["patient_id"]
            if not isinstance(patient, str) or patient not in self.split:
                raise ValueError(f"image {label}/{name}: patient_id {patient!r} is not in the split")
            split_name = self.split[patient]
        key = (label.casefold(), name.casefold())
        if key in self._taken:
            raise ValueError(f"image name {name!r} is used twice in label {label!r} (names are compared ignoring case)")

        prefix = "" if split_name is None else f"{split_name}/"
        relpath = f"{prefix}{_IMAGES_FOLDER}/" if self.masks else prefix
        relpath += f"{label}/{name}.png"
        _save(image, self._staging / relpath)
        row: dict[str, Any] = {"file": relpath, "label": label}
        for index, foreground in enumerate(foregrounds):
            mask_relpath = f"{prefix}{mask_folder(index)}/{label}/{name}.png"
            _save(Image.fromarray(foreground.astype(np.uint8) * np.uint8(255)), self._staging / mask_relpath)
            row[_mask_column(index, "mask")] = mask_relpath
            values.setdefault(_mask_column(index, "foreground"), round(float(foreground.mean()), 4))
        self._taken.add(key)
        row.update(values)
        if split_name is not None:
            row["split"] = split_name
        self._rows.append(row)
        return relpath

    def record(self, label: str, **fields: object) -> None:
        """Add a manifest row for an image that is not written (one a screen dropped), with an empty ``file``.

        Parameters
        ----------
        label : str
            Class folder the image would have gone to.
        **fields
            Extra manifest columns, as for :meth:`add`.
        """
        if self._staging is None:
            raise RuntimeError("DatasetWriter.record must be called inside its with-block")
        _check_component(label, "label")
        self._rows.append({"file": "", "label": label, **_field_values(fields)})

    def _check_masks(
        self, mask: np.ndarray | Sequence[np.ndarray] | None, shape: tuple[int, ...], where: str
    ) -> list[np.ndarray]:
        """Each mask channel's foreground as a bool array; none for a writer without masks."""
        if not self.masks:
            if mask is not None:
                raise ValueError(f"image {where}: got a mask, but the writer was made without masks=True")
            return []
        if mask is None:
            raise ValueError(f"image {where}: a writer with masks=True needs a mask for every image")
        if isinstance(mask, np.ndarray):
            channels = [mask] if mask.ndim == 2 else list(mask)
        elif isinstance(mask, (list, tuple)):
            channels = list(mask)
        else:
            raise ValueError(f"image {where}: mask must be a numpy array or a list of them, got {type(mask).__name__}")
        if self._mask_count is None:
            self._mask_count = len(channels)
        if len(channels) != self._mask_count or not channels:
            raise ValueError(
                f"image {where}: got {len(channels)} mask(s), the images before it had {self._mask_count}; "
                "every image needs the same mask channels"
            )
        return [self._check_mask(channel, shape, where) for channel in channels]

    @staticmethod
    def _check_mask(mask: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or not (mask.dtype == np.bool_ or np.issubdtype(mask.dtype, np.integer)):
            kind = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
            raise ValueError(f"image {where}: mask must be a bool or integer numpy array, got {kind}")
        if mask.shape != shape:
            raise ValueError(f"image {where}: mask has shape {mask.shape}, the image's height x width is {shape}")
        foreground = mask != 0
        if mask.dtype != np.bool_:
            values = np.unique(mask[foreground])
            if len(values) > 1:
                shown = ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
                raise ValueError(
                    f"image {where}: mask holds several foreground values ({shown}); pass one class, e.g. mask == value"
                )
        return foreground

    def _check_pixels(self, pixels: np.ndarray, where: str) -> Image.Image:
        if not isinstance(pixels, np.ndarray):
            raise TypeError(f"image {where}: pixels must be a numpy array, got {type(pixels).__name__}")
        expected = np.uint8 if self.bits == 8 else np.uint16
        if pixels.dtype != expected:
            raise ValueError(
                f"image {where}: pixels must be {np.dtype(expected).name} for a {self.bits}-bit dataset, got "
                f"{pixels.dtype} (use encode_pixels(..., bits={self.bits}))"
            )
        if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)) or 0 in pixels.shape:
            raise ValueError(f"image {where}: pixels must have shape [H, W] or [H, W, 3], got {pixels.shape}")
        if pixels.ndim == 3 and self.bits == 16:
            raise ValueError(f"image {where}: Pillow cannot write 16-bit RGB PNGs; use 8 bits for RGB images (bits=8)")
        channels = 1 if pixels.ndim == 2 else 3
        if self._channels is None:
            self._channels = (channels, where)
        elif self._channels[0] != channels:
            first_channels, first = self._channels
            raise ValueError(
                f"image {where} has {channels} channel(s) but {first} has {first_channels}: a dataset cannot mix "
                "grayscale and colour (encode grayscale with rgb=True)"
            )
        return Image.fromarray(np.ascontiguousarray(pixels))

    def _write_manifest(self, folder: Path) -> None:
        if self.manifest == "json":
            text = json.dumps(self._rows, indent=1, allow_nan=False) + "\n"
            (folder / "manifest.json").write_text(text, encoding="utf-8")
            return
        mask_columns = [_mask_column(index, "mask") for index in range(self._mask_count or 0)]
        names: dict[str, None] = dict.fromkeys(("file", "label", *mask_columns))
        for row in self._rows:
            names.update(dict.fromkeys(row))
        with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(names), restval="")
            writer.writeheader()
            writer.writerows(self._rows)

    def _publish(self, staging: Path) -> None:
        out = self.out_dir
        if not out.exists():
            os.rename(staging, out)
            return
        # Checked again: the folder may have been filled while the images were being written.
        self._check_destination()
        if _is_empty_dir(out):
            out.rmdir()
            os.rename(staging, out)
            return
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        # Renaming a directory onto an empty one works on POSIX; the placeholder only reserves a unique name.
        try:
            os.rename(out, old)
        except BaseException:
            old.rmdir()
            raise
        try:
            os.rename(staging, out)
        except BaseException:
            os.rename(old, out)
            raise
        shutil.rmtree(old)


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a manifest written by :class:`DatasetWriter`.

    Parameters
    ----------
    path : str or os.PathLike
        ``manifest.csv`` or ``manifest.json`` (the format comes from the extension).

    Returns
    -------
    list of dict
        One dict per image. CSV values are strings; JSON values keep their JSON types (numbers stay numbers).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"{path}: manifest must be a .csv or .json file, got extension {path.suffix!r}")
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return [dict(row) for row in csv.DictReader(f)]
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{path}: a JSON manifest must be a list of objects")
    return rows
