"""A folder of PNG/JPEG images, optionally labelled, as the training set of a GAN."""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from .images import IMAGE_EXTENSIONS, RESIZE_MODES, ResizeMode, image_channels, load_image, resize_square

__all__ = ["LABEL_SOURCES", "ImageFolderDataset", "LabelSource", "find_images"]

LABEL_SOURCES: tuple[str | None, ...] = ("auto", "folders", "json", None)
"""Accepted values of ``ImageFolderDataset(labels=...)``."""

LabelSource = Literal["auto", "folders", "json"]

_JSON_NAME = "dataset.json"
_MAX_LISTED = 10


def find_images(root: Path) -> list[str]:
    """Relative POSIX paths of the images under ``root``, sorted; hidden files and folders are skipped.

    Parameters
    ----------
    root : pathlib.Path
        The folder to search, following symbolic links (each real folder once).

    Returns
    -------
    list of str
        Paths relative to ``root`` of the files with an image extension.
    """
    found: list[str] = []
    visited: set[str] = set()
    # followlinks: datasets are often assembled from symlinked folders; ``visited`` stops symlink cycles.
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        visited.add(os.path.realpath(folder))
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and os.path.realpath(os.path.join(folder, d)) not in visited
        ]
        relative = Path(folder).relative_to(root)
        for name in filenames:
            if not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                found.append((relative / name).as_posix())
    return sorted(found)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown if len(names) <= _MAX_LISTED else f"{shown}, ... ({len(names) - _MAX_LISTED} more)"


def _one_hot(indices: np.ndarray, c_dim: int) -> np.ndarray:
    labels = np.zeros((len(indices), c_dim), dtype=np.float32)
    labels[np.arange(len(indices)), indices] = 1
    return labels


def _folder_labels(root: Path, relpaths: list[str]) -> tuple[np.ndarray, list[str]]:
    top_level = [p for p in relpaths if "/" not in p]
    if top_level:
        raise ValueError(
            f"labels='folders' needs every image in a class subfolder of {root}, but {len(top_level)} lie directly "
            f"in it: {_listing(top_level)}"
        )
    classes = [p.split("/", 1)[0] for p in relpaths]
    class_names = sorted(set(classes))
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[c] for c in classes], dtype=np.int64), class_names


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but true/false in a label list is almost certainly a mistake.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_labels(root: Path, relpaths: list[str]) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(labels [N, c_dim], class indices or None)`` from ``root/dataset.json``; None for ``"labels": null``."""
    path = root / _JSON_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read labels: {error}") from error
    if not isinstance(data, dict) or "labels" not in data:
        raise ValueError(f'{path}: expected an object with a "labels" key, as written by StyleGAN2-ADA\'s dataset_tool')
    entries = data["labels"]
    if entries is None:  # dataset_tool's way of writing an unlabelled dataset
        return None
    if not isinstance(entries, list):
        raise ValueError(f'{path}: "labels" must be a list of [relative path, label] pairs or null')
    table: dict[str, Any] = {}
    for number, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ValueError(f"{path}: labels entry {number} is not a [relative path, label] pair: {entry!r}")
        name, label = entry
        if name in table:
            raise ValueError(f"{path}: {name!r} is labelled twice")
        table[name] = label

    known = set(relpaths)
    unknown = [name for name in table if name not in known]
    if unknown:
        raise ValueError(
            f"{path}: {len(unknown)} entries name files that are not images under {root} (paths are relative to "
            f"it and use '/'): {_listing(unknown)}"
        )
    missing = [p for p in relpaths if p not in table]
    if missing:
        raise ValueError(f"{path}: {len(missing)} images have no label: {_listing(missing)}")

    values = [table[p] for p in relpaths]
    if all(_is_number(v) and float(v).is_integer() and v >= 0 for v in values):
        indices = np.array([int(v) for v in values], dtype=np.int64)
        return _one_hot(indices, int(indices.max()) + 1), indices
    if all(isinstance(v, list) and v and all(_is_number(x) for x in v) for v in values):
        lengths = sorted({len(v) for v in values})
        if len(lengths) > 1:
            raise ValueError(f"{path}: label vectors must all have the same length, found lengths {lengths}")
        labels = np.array(values, dtype=np.float32)
        if not np.isfinite(labels).all():
            raise ValueError(f"{path}: label vectors must be finite")
        return labels, None
    raise ValueError(
        f"{path}: labels must be either all non-negative integer classes or all non-empty lists of numbers"
    )


class ImageFolderDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images found recursively under a folder, resized to a square, in [-1, 1], with optional labels.

    PNG (8- and 16-bit) and JPEG files (``.png``, ``.jpg``, ``.jpeg`` in any case) are collected recursively,
    skipping hidden files and folders, and sorted by their path relative to ``root``. Construction reads
    only the files' headers; ``dataset[i]`` decodes image ``i`` with :func:`~medgan_aug.data.load_image`
    and resizes it with :func:`~medgan_aug.data.resize_square`. The dataset holds no open files and
    pickles, so it works in a :class:`~torch.utils.data.DataLoader` with worker processes.

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding the images.
    resolution : int
        Side of the square training images, >= 4 (a power of two for StyleGAN2).
    resize : {"letterbox", "center-crop", "stretch"}
        How non-square (or differently sized) images become ``resolution`` x ``resolution``;
        letterbox padding is black (-1).
    labels : {"auto", "folders", "json"} or None
        ``"folders"``: the first subfolder under ``root`` is the class (sorted class names give the
        indices). ``"json"``: ``root/dataset.json`` in StyleGAN2-ADA's format,
        ``{"labels": [["sub/img.png", 3], ...]}`` with integer classes (one-hot, ``c_dim = max + 1``) or
        equal-length lists of numbers (used as is). ``"auto"``: ``"json"`` if ``dataset.json`` exists, else
        ``"folders"`` if every image lies in a subfolder and there are at least two, else None.
        None: unconditional (``c_dim`` 0).
    mirror : bool
        Double the dataset: items ``len(paths)`` to ``2 * len(paths) - 1`` are the images flipped
        left-right (StyleGAN2-ADA's ``--mirror``).
    max_images : int, optional
        Keep only the first ``max_images`` images (after sorting), for quick runs. Classes and ``c_dim``
        are still determined from all images, so that conditional networks keep their shape.
    transform : callable, optional
        Applied to each item's image tensor (``[C, resolution, resolution]`` in [-1, 1]) before it is
        returned, e.g. a classifier's augmentation; it must be picklable for DataLoader workers, and keep
        the shape when the dataset trains a GAN. The label is not passed to it.

    Attributes
    ----------
    root : pathlib.Path
        The absolute dataset folder.
    resolution : int
        Side of the returned images.
    resize : str
        The resize mode.
    mirror : bool
        Whether flipped copies are appended.
    label_kind : {"folders", "json"} or None
        Where the labels came from; None when unconditional.
    num_channels : int
        1 (grayscale) or 3 (colour), the same for every image.
    c_dim : int
        Length of the label vectors, 0 when unconditional.
    class_names : list of str
        Class names (subfolder names, or ``"0"``, ``"1"``, ... for integer json labels); empty otherwise.
    paths : list of pathlib.Path
        The image files, in item order.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        resolution: int,
        *,
        resize: ResizeMode = "letterbox",
        labels: LabelSource | None = "auto",
        mirror: bool = False,
        max_images: int | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform
        # Any side works here; the networks check their own (StyleGAN2 needs powers of two, DCGAN presets 28 px).
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4:
            raise ValueError(f"resolution must be an integer >= 4, got {resolution!r}")
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        if labels not in LABEL_SOURCES:
            raise ValueError(f"labels must be one of {LABEL_SOURCES}, got {labels!r}")
        if max_images is not None and (
            isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1
        ):
            raise ValueError(f"max_images must be a positive integer or None, got {max_images!r}")

        root = Path(root).absolute()
        if not root.exists():
            raise FileNotFoundError(f"dataset folder {root} does not exist")
        if not root.is_dir():
            raise FileNotFoundError(f"dataset folder {root} is not a directory")
        relpaths = find_images(root)
        if not relpaths:
            raise ValueError(
                f"no images found under {root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)}, any case)"
            )

        if labels == "auto":
            labels = self._detect_labels(root, relpaths)
        label_array = np.zeros((len(relpaths), 0), dtype=np.float32)
        class_index: np.ndarray | None = None
        class_names: list[str] = []
        if labels == "folders":
            class_index, class_names = _folder_labels(root, relpaths)
            label_array = _one_hot(class_index, len(class_names))
        elif labels == "json":
            parsed = _json_labels(root, relpaths)
            if parsed is None:
                labels = None
            else:
                label_array, class_index = parsed
                if class_index is not None:
                    class_names = [str(i) for i in range(label_array.shape[1])]

        if max_images is not None:
            relpaths = relpaths[:max_images]
            label_array = label_array[:max_images]
            class_index = None if class_index is None else class_index[:max_images]

        self.root = root
        self.resolution = resolution
        self.resize: ResizeMode = resize
        self.mirror = bool(mirror)
        self.max_images = max_images
        self.label_kind: str | None = labels
        self.class_names = class_names
        self.paths = [root / p for p in relpaths]
        self.num_channels = self._check_channels(self.paths)
        self._labels = np.ascontiguousarray(label_array, dtype=np.float32)
        self._class_index = class_index

    @staticmethod
    def _detect_labels(root: Path, relpaths: list[str]) -> str | None:
        if (root / _JSON_NAME).is_file():
            return "json"
        if all("/" in p for p in relpaths) and len({p.split("/", 1)[0] for p in relpaths}) >= 2:
            return "folders"
        return None

    @staticmethod
    def _check_channels(paths: list[Path]) -> int:
        first_with: dict[int, Path] = {}
        for path in paths:
            first_with.setdefault(image_channels(path), path)
        if len(first_with) > 1:
            raise ValueError(
                f"images mix channel counts: {first_with[1]} is grayscale (1 channel) but {first_with[3]} is colour "
                "(3 channels); convert them to one kind"
            )
        return next(iter(first_with))

    @property
    def c_dim(self) -> int:
        """Length of the label vectors (0 when unconditional)."""
        return int(self._labels.shape[1])

    @property
    def has_labels(self) -> bool:
        """Whether the images carry labels (``c_dim > 0``)."""
        return self.c_dim > 0

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, resolution, resolution)`` of the returned images."""
        return (self.num_channels, self.resolution, self.resolution)

    def __len__(self) -> int:
        """Number of items: the number of images, doubled with ``mirror``."""
        return len(self.paths) * (2 if self.mirror else 1)

    def _image_index(self, index: int) -> tuple[int, bool]:
        i = operator.index(index)
        length = len(self)
        if i < 0:
            i += length
        if not 0 <= i < length:
            raise IndexError(f"index {index} out of range for a dataset of {length} items")
        return i % len(self.paths), i >= len(self.paths)

    def get_label(self, index: int) -> torch.Tensor:
        """Return the float32 ``[c_dim]`` label of item ``index`` without decoding its image."""
        i, _ = self._image_index(index)
        return torch.from_numpy(self._labels[i].copy())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return item ``index`` as ``(image float32 [C, resolution, resolution] in [-1, 1], label [c_dim])``.

        With a ``transform``, the image is what it returns.
        """
        image, label = self._load(index)
        return (image if self.transform is None else self.transform(image)), label

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` before the transform."""
        i, flipped = self._image_index(index)
        path = self.paths[i]
        image = torch.from_numpy(load_image(path))
        if image.shape[0] != self.num_channels:
            raise ValueError(f"{path} now has {image.shape[0]} channels, the dataset {self.num_channels}")
        # Resampling weights sum to 1 only up to rounding, which can overshoot [0, 1] by an ulp.
        image = resize_square(image, self.resolution, self.resize).clamp(0, 1) * 2 - 1
        if flipped:
            image = image.flip(2)
        return image, torch.from_numpy(self._labels[i].copy())

    def label_counts(self) -> list[int]:
        """Return the number of items in each class (mirrored copies included), in ``class_names`` order.

        Empty for an unconditional dataset; a ValueError for json labels given as vectors, which have no classes.
        """
        if self._class_index is None:
            if self.has_labels:
                raise ValueError("label_counts needs class labels, but the json labels are vectors of numbers")
            return []
        counts = np.bincount(self._class_index, minlength=self.c_dim) * (2 if self.mirror else 1)
        return [int(c) for c in counts]

    def class_indices(self) -> np.ndarray:
        """Return the int64 ``[len(self)]`` class index of every item (mirrored copies included), in item order.

        No image is decoded. A ValueError for an unconditional dataset, or for json labels given as vectors,
        which have no classes.
        """
        if self._class_index is None:
            if self.has_labels:
                raise ValueError("class_indices needs class labels, but the json labels are vectors of numbers")
            raise ValueError("class_indices needs class labels, but the dataset is unconditional (no labels)")
        return np.tile(self._class_index, 2 if self.mirror else 1).astype(np.int64)

    def describe(self) -> dict[str, Any]:
        """Return the dataset's configuration as plain JSON-serialisable data, for a run's metadata."""
        return {
            "root": str(self.root),
            "count": len(self.paths),
            "length": len(self),
            "channels": self.num_channels,
            "resolution": self.resolution,
            "resize": self.resize,
            "labels": self.label_kind,
            "c_dim": self.c_dim,
            "class_names": list(self.class_names),
            "mirror": self.mirror,
            "max_images": self.max_images,
        }

    def __repr__(self) -> str:
        """Summarise the dataset in one line."""
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, images={len(self.paths)}, resolution={self.resolution}, "
            f"channels={self.num_channels}, labels={self.label_kind!r}, c_dim={self.c_dim}, mirror={self.mirror})"
        )
