"""Train/val/test splits of the real labelled images, stratified by class and, with patient ids, by patient.

:func:`stratified_split` cuts class indices into train/val/test with every class in every split, keeping each
patient's images together when patient ids are given; :func:`class_fraction` draws a nested, stratified share of a
training set. :func:`load_real_splits` reads an image folder in one of three layouts into :class:`RealSplits`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.dataset_writer import SPLITS, check_fractions, read_manifest, split_counts
from ..data.image_folder import ImageFolderDataset
from ..data.images import ResizeMode

__all__ = ["SPLIT_METHODS", "LabelledSubset", "RealSplits", "class_fraction", "load_real_splits", "stratified_split"]

SPLIT_METHODS: tuple[str, ...] = ("folders", "caller", "patient", "stratified")
"""How :func:`load_real_splits` obtained the splits, as recorded in :attr:`RealSplits.method`."""

_MANIFEST_NAMES = ("manifest.csv", "manifest.json")


def _int_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D int64 array; a ValueError naming ``name`` unless they are integers."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of integers, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Booleans and floats are rejected rather than cast: a float "class" usually means a probability slipped in.
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {array.dtype} (first value {array[0]!r})")
    return array.astype(np.int64)


def _check_labels(labels: Any, name: str = "labels") -> np.ndarray:
    classes = _int_array(labels, name)
    if classes.size == 0:
        raise ValueError(f"{name} is empty")
    negative = np.flatnonzero(classes < 0)
    if negative.size:
        raise ValueError(f"{name} must be class indices >= 0, got {classes[negative[0]]} at position {negative[0]}")
    return classes


def _check_groups(groups: Sequence[str], n: int) -> np.ndarray:
    """Index of each item's group among the sorted distinct groups."""
    if isinstance(groups, str) or not hasattr(groups, "__len__"):
        raise ValueError(f"groups must be a sequence of strings (one patient id per item), got {type(groups).__name__}")
    if len(groups) != n:
        raise ValueError(f"groups must give one id per label: {len(groups)} groups for {n} labels")
    for position, group in enumerate(groups):
        if not isinstance(group, str):
            raise ValueError(f"groups must be strings (patient ids), got {group!r} at position {position}")
    _, inverse = np.unique(np.array(list(groups), dtype=object), return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _as_result(split_of: np.ndarray) -> dict[str, np.ndarray]:
    return {name: np.flatnonzero(split_of == s).astype(np.int64) for s, name in enumerate(SPLITS)}


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    *,
    seed: int = 0,
    groups: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Split items into train, val and test so that every class is represented in every split.

    Without ``groups``, the items of each class (in ascending class order) are shuffled by one
    ``numpy.random.default_rng(seed)`` and cut into blocks of the largest-remainder rounding of
    ``fractions * n_class``, moved so that every split with a non-zero fraction gets at least one item of the class.
    With ``groups``, whole groups are split instead: each group joins the stratum of its majority class (ties go to
    the lowest class) and each stratum's groups are shuffled and cut the same way. A stratum with fewer groups than
    non-zero splits gives one group to each of train, val, test in that order, as far as it goes.

    Parameters
    ----------
    labels : sequence of int or numpy.ndarray
        Class index (>= 0) of every item.
    fractions : tuple of three floats
        Shares of train, val and test; each >= 0, summing to 1. A zero share gives an empty split.
    seed : int
        Seed of the shuffles; the same inputs and seed always give the same split.
    groups : sequence of str, optional
        Group (patient) id of every item; no group is split across two splits.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"train": idx, "val": idx, "test": idx}``: sorted int64 item indices, disjoint, together all items.

    Raises
    ------
    ValueError
        For invalid labels, fractions or groups; without groups, when a class has fewer items than there are
        non-zero fractions; with groups, when some split with a non-zero fraction would get no group.
    """
    classes = _check_labels(labels)
    shares = check_fractions(fractions)
    nonzero = [s for s, share in enumerate(shares) if share > 0]
    rng = np.random.default_rng(seed)

    if groups is None:
        units = np.arange(len(classes))
        strata = classes
    else:
        units = _check_groups(groups, len(classes))
        votes = np.zeros((int(units.max()) + 1, int(classes.max()) + 1), dtype=np.int64)
        np.add.at(votes, (units, classes), 1)
        strata = votes.argmax(axis=1)  # argmax returns the first maximum: ties go to the lowest class

    split_of_unit = np.full(len(strata), -1, dtype=np.int64)
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        if len(members) >= len(nonzero):
            counts = split_counts(shares, len(members))
        elif groups is None:
            raise ValueError(
                f"class {stratum} has {len(members)} item(s), fewer than the {len(nonzero)} splits with non-zero "
                f"fractions {fractions!r}"
            )
        else:
            counts = [0] * len(SPLITS)
            for s in nonzero[: len(members)]:
                counts[s] = 1
        shuffled = members[rng.permutation(len(members))]
        start = 0
        for s, count in enumerate(counts):
            split_of_unit[shuffled[start : start + count]] = s
            start += count

    if groups is not None:
        empty = [SPLITS[s] for s in nonzero if not (split_of_unit == s).any()]
        if empty:
            raise ValueError(
                f"groups: {len(strata)} distinct group(s) stratified by majority class leave no group for split(s) "
                f"{empty} with non-zero fractions {fractions!r}; every stratum has fewer groups than non-zero splits"
            )
    return _as_result(split_of_unit[units])


def _check_fraction(fraction: Any) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"fraction must be a number in (0, 1], got {fraction!r}")
    if not (math.isfinite(fraction) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return float(fraction)


def class_fraction(labels: Sequence[int] | np.ndarray, fraction: float, *, seed: int = 0) -> np.ndarray:
    """Return a stratified share of the items: ``max(1, round(fraction * n_class))`` of every present class.

    The items kept from a class are the first ones of a shuffle of that class by ``numpy.random.default_rng(seed)``
    (classes in ascending order), which does not depend on ``fraction``: with the same seed, a smaller fraction
    keeps a subset of what a larger one keeps. Halves round up.

    Parameters
    ----------
    labels : sequence of int or numpy.ndarray
        Class index (>= 0) of every item.
    fraction : float
        Share to keep, in (0, 1]; 1 keeps every item.
    seed : int
        Seed of the per-class shuffles.

    Returns
    -------
    numpy.ndarray
        Sorted int64 indices of the kept items.
    """
    classes = _check_labels(labels)
    share = _check_fraction(fraction)
    rng = np.random.default_rng(seed)
    kept: list[np.ndarray] = []
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        count = max(1, math.floor(share * len(members) + 0.5))
        kept.append(members[rng.permutation(len(members))[:count]])
    return np.sort(np.concatenate(kept)).astype(np.int64)


class LabelledSubset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Chosen items of a dataset, each with an integer class label.

    Item ``i`` is ``(image, label)``: the image of ``base[indices[i]]`` (its first element when ``base`` yields
    tuples) and ``labels[i]`` as a torch.int64 scalar, the form :func:`train_classifier` takes. The subset holds no
    open files and pickles whenever ``base`` does, so it works in a DataLoader with worker processes.

    Parameters
    ----------
    base : torch.utils.data.Dataset
        The map-style dataset the images come from.
    indices : sequence of int or numpy.ndarray
        Items of ``base``, each in ``[0, len(base))``.
    labels : sequence of int or numpy.ndarray
        Class index (>= 0) of each chosen item, as long as ``indices``.
    groups : sequence of str, optional
        Patient id of each chosen item, as long as ``indices``; statistics resample patients when it is given.

    Attributes
    ----------
    base : torch.utils.data.Dataset
        The underlying dataset.
    indices : numpy.ndarray
        int64 items of ``base``.
    labels : numpy.ndarray
        int64 class of each item.
    groups : numpy.ndarray or None
        Object array of each item's patient id, None when unknown.
    """

    def __init__(
        self,
        base: Dataset,
        indices: Sequence[int] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        groups: Sequence[str] | np.ndarray | None = None,
    ) -> None:
        if not (hasattr(base, "__getitem__") and hasattr(base, "__len__")):
            raise TypeError(f"base must be a map-style Dataset (with __len__), got {type(base).__name__}")
        chosen = _int_array(indices, "indices")
        classes = _int_array(labels, "labels")
        if len(classes) != len(chosen):
            raise ValueError(f"labels must be as long as indices: {len(classes)} labels for {len(chosen)} indices")
        outside = np.flatnonzero((chosen < 0) | (chosen >= len(base)))
        if outside.size:
            raise ValueError(
                f"indices must lie in [0, {len(base)}) for a base dataset of {len(base)} items, got "
                f"{chosen[outside[0]]} at position {outside[0]}"
            )
        if (classes < 0).any():
            raise ValueError(f"labels must be class indices >= 0, got {int(classes.min())}")
        if groups is not None:
            _check_groups(groups, len(chosen))
            groups = np.array([str(group) for group in groups], dtype=object)
        self.base = base
        self.indices = chosen
        self.labels = classes
        self.groups = groups

    def subset(self, keep: np.ndarray) -> LabelledSubset:
        """The items at positions ``keep`` of this subset, with their labels and patient ids."""
        groups = None if self.groups is None else self.groups[keep]
        return LabelledSubset(self.base, self.indices[keep], self.labels[keep], groups)

    def __len__(self) -> int:
        """Number of chosen items."""
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return item ``index`` as ``(image, int64 scalar label)``."""
        i = operator.index(index)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {index} out of range for a subset of {len(self)} items")
        item = self.base[int(self.indices[i])]
        image = item[0] if isinstance(item, (tuple, list)) else item
        return image, torch.tensor(int(self.labels[i]), dtype=torch.int64)


@dataclass(frozen=True)
class RealSplits:
    """The real labelled images split into train, val and (optionally) test, as :func:`load_real_splits` gives.

    Attributes
    ----------
    train, val : LabelledSubset
        Training and validation items.
    test : LabelledSubset or None
        Test items, None when there is no test set.
    class_names : tuple of str
        Class names; label ``k`` is ``class_names[k]``.
    method : str
        One of :data:`SPLIT_METHODS`: how the splits were made.
    num_channels : int
        1 (grayscale) or 3 (colour).
    resolution : int
        Side of the square images.
    """

    train: LabelledSubset
    val: LabelledSubset
    test: LabelledSubset | None
    class_names: tuple[str, ...]
    method: str
    num_channels: int
    resolution: int

    def __post_init__(self) -> None:
        if self.method not in SPLIT_METHODS:
            raise ValueError(f"method must be one of {SPLIT_METHODS}, got {self.method!r}")

    @property
    def train_labels(self) -> np.ndarray:
        """int64 class of every training item."""
        return self.train.labels

    @property
    def val_labels(self) -> np.ndarray:
        """int64 class of every validation item."""
        return self.val.labels

    @property
    def test_labels(self) -> np.ndarray | None:
        """int64 class of every test item, None without a test set."""
        return None if self.test is None else self.test.labels

    @property
    def test_groups(self) -> np.ndarray | None:
        """Patient id of every test item, None without a test set or without patient ids."""
        return None if self.test is None else self.test.groups

    def with_train_fraction(self, fraction: float, *, seed: int = 0) -> RealSplits:
        """Return a copy whose training set keeps the stratified share ``fraction`` (see :func:`class_fraction`).

        With one seed, smaller fractions keep subsets of larger ones; val and test are unchanged.
        """
        keep = class_fraction(self.train.labels, fraction, seed=seed)
        return dataclasses.replace(self, train=self.train.subset(keep))

    def describe(self) -> dict[str, Any]:
        """Return the method, class names and item counts per split and per class, as JSON-serialisable data."""
        splits: dict[str, Any] = {}
        for name, subset in zip(SPLITS, (self.train, self.val, self.test), strict=True):
            if subset is None:
                splits[name] = None
                continue
            per_class = np.bincount(subset.labels, minlength=len(self.class_names))
            splits[name] = {"count": len(subset), "per_class": [int(c) for c in per_class]}
        return {
            "method": self.method,
            "class_names": list(self.class_names),
            "num_channels": self.num_channels,
            "resolution": self.resolution,
            "splits": splits,
        }


def _open_folder(path: str | os.PathLike[str], what: str, resolution: int, resize: ResizeMode) -> ImageFolderDataset:
    folder = Path(path).absolute()
    if not folder.is_dir():
        problem = "does not exist" if not folder.exists() else "is not a directory"
        raise FileNotFoundError(f"{what} folder {folder} {problem}")
    return ImageFolderDataset(folder, resolution, resize=resize, labels="folders")


def _check_consistent(train: ImageFolderDataset, other: ImageFolderDataset, what: str) -> None:
    if other.class_names != train.class_names:
        only_train = sorted(set(train.class_names) - set(other.class_names))
        only_other = sorted(set(other.class_names) - set(train.class_names))
        raise ValueError(
            f"the class folders of the {what} folder {other.root} differ from those of the training folder "
            f"{train.root}: only in training: {only_train}, only in {what}: {only_other}"
        )
    if other.num_channels != train.num_channels:
        raise ValueError(
            f"the {what} folder {other.root} has {other.num_channels}-channel images but the training folder "
            f"{train.root} has {train.num_channels}-channel images"
        )


def _whole(dataset: ImageFolderDataset, groups: list[str] | None = None) -> LabelledSubset:
    return LabelledSubset(dataset, np.arange(len(dataset)), dataset.class_indices(), groups)


def _manifest_rows(root: Path) -> tuple[Path, list[dict[str, Any]], str] | None:
    """The manifest that lists ``root``'s images: its own, or its parent's for a split folder; with the prefix of
    ``root``'s images in the manifest's ``file`` column."""
    for folder, prefix in ((root, ""), (root.parent, f"{root.name}/")):
        path = next((folder / name for name in _MANIFEST_NAMES if (folder / name).is_file()), None)
        if path is None:
            continue
        rows = [row for row in read_manifest(path) if str(row.get("file", "")).startswith(prefix)]
        if rows:
            return path, rows, prefix
    return None


def _manifest_groups(dataset: ImageFolderDataset, otherwise: str) -> list[str] | None:
    """Patient id of every image from the folder's manifest, or None when it does not give one for each.

    A manifest with a ``patient_id`` column that misses some images gives a UserWarning ending in ``otherwise``.
    """
    found = _manifest_rows(dataset.root)
    if found is None:
        return None
    path, rows, prefix = found
    if not any("patient_id" in row for row in rows):
        return None
    patients: dict[str, str] = {}
    for row in rows:
        file, patient = row.get("file"), row.get("patient_id")
        if isinstance(file, str) and patient is not None and str(patient) != "":
            patients[file[len(prefix) :]] = str(patient)
    relpaths = [p.relative_to(dataset.root).as_posix() for p in dataset.paths]
    missing = [p for p in relpaths if p not in patients]
    if missing:
        warnings.warn(
            f"{path} gives no patient_id for {len(missing)} of {len(relpaths)} images (e.g. {prefix}{missing[0]}); "
            + otherwise,
            UserWarning,
            stacklevel=3,
        )
        return None
    return [patients[p] for p in relpaths]


def _is_split_layout(root: Path) -> bool:
    subfolders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    # A DatasetWriter split with a zero val fraction has train (and test) but no val; that is still this layout.
    return {"train", "val"} <= subfolders or ("train" in subfolders and subfolders <= set(SPLITS))


def load_real_splits(
    root: str | os.PathLike[str],
    resolution: int,
    *,
    val: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    resize: ResizeMode = "letterbox",
) -> RealSplits:
    """Load real labelled images (class subfolders) as train/val/test splits.

    The layout decides the method:

    - ``"folders"``: ``root`` holds ``train`` and ``val`` (and optionally ``test``) folders of class subfolders,
      as :class:`~medgan_aug.data.DatasetWriter` writes with a split; they are used as they are, and passing
      ``val`` or ``test`` is an error.
    - ``"caller"``: ``val`` is given; ``root`` is all the training data, ``val`` the validation and ``test`` (if
      given) the test folder.
    - ``"patient"`` or ``"stratified"``: ``root`` has class subfolders and is cut by :func:`stratified_split` —
      by patient when ``root/manifest.csv`` (or ``.json``) gives a non-empty ``patient_id`` for every image
      (rows matched by their ``file`` column, relative to ``root`` with '/'), else image by image. A manifest with a
      ``patient_id`` column that misses some images gives a UserWarning. With ``test`` given, it is the test set
      and the test share of ``fractions`` goes to train and val in proportion.

    The validation and test subsets carry their images' patient ids (:attr:`LabelledSubset.groups`) whenever a
    manifest gives one for every image: the folder's own ``manifest.csv`` (or ``.json``), or for a split folder
    such as ``root/test`` the parent's manifest rows under ``test/``, as :class:`~medgan_aug.data.DatasetWriter`
    writes them. :class:`SelfTrainer` then resamples patients rather than images in its statistics.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset folder.
    resolution : int
        Side of the square images, a power of two >= 4.
    val, test : str or os.PathLike, optional
        Validation and test folders of class subfolders.
    fractions : tuple of three floats
        Train, val and test shares for the split of ``root``; the val share must be > 0. Validated in every layout.
    seed : int
        Seed of the split.
    resize : {"letterbox", "center-crop", "stretch"}
        How images become square (see :class:`~medgan_aug.data.ImageFolderDataset`).

    Returns
    -------
    RealSplits
        The splits; labels are indices into the training folder's sorted class names.

    Raises
    ------
    FileNotFoundError
        If a folder is missing.
    ValueError
        For invalid fractions or resolution, ambiguous arguments, or val/test folders whose class names or
        channel counts differ from the training folder's.
    """
    shares = check_fractions(fractions)
    root_path = Path(root).absolute()
    if not root_path.is_dir():
        problem = "does not exist" if not root_path.exists() else "is not a directory"
        raise FileNotFoundError(f"dataset folder {root_path} {problem}")

    if _is_split_layout(root_path):
        if val is not None or test is not None:
            raise ValueError(
                f"root {root_path} already holds train/val split folders, so val and test must not be given "
                "(which folders to use would be ambiguous)"
            )
        if not (root_path / "val").is_dir():
            raise FileNotFoundError(f"val folder {root_path / 'val'} does not exist beside {root_path / 'train'}")
        train_data = _open_folder(root_path / "train", "train", resolution, resize)
        val_data = _open_folder(root_path / "val", "val", resolution, resize)
        test_data = (
            _open_folder(root_path / "test", "test", resolution, resize) if (root_path / "test").is_dir() else None
        )
        method = "folders"
    else:
        train_data = _open_folder(root_path, "dataset", resolution, resize)
        val_data = None if val is None else _open_folder(val, "val", resolution, resize)
        test_data = None if test is None else _open_folder(test, "test", resolution, resize)
        method = "caller" if val_data is not None else "stratified"

    for other, what in ((val_data, "val"), (test_data, "test")):
        if other is not None:
            _check_consistent(train_data, other, what)

    common = {
        "class_names": tuple(train_data.class_names),
        "num_channels": train_data.num_channels,
        "resolution": resolution,
    }
    # Patient ids of held-out images let the statistics resample patients; without them, images one by one.
    by_image = "statistics on these images resample them one by one instead of by patient"
    if val_data is not None:
        return RealSplits(
            train=_whole(train_data),
            val=_whole(val_data, _manifest_groups(val_data, by_image)),
            test=None if test_data is None else _whole(test_data, _manifest_groups(test_data, by_image)),
            method=method,
            **common,
        )

    if shares[1] == 0:
        raise ValueError(f"fractions must give val a share > 0 to split {root_path}, got {fractions!r}")
    if test_data is not None:
        shares = (shares[0] / (shares[0] + shares[1]), shares[1] / (shares[0] + shares[1]), 0.0)
    # Splitting only the listed images by patient would leave the others unplaced; a split by image is at least
    # complete, but the user should know that patients may now straddle splits.
    groups = _manifest_groups(train_data, "splitting image by image (stratified) instead of by patient")
    labels = train_data.class_indices()
    parts = stratified_split(labels, shares, seed=seed, groups=groups)
    ids = None if groups is None else np.array(groups, dtype=object)

    def subset(name: str) -> LabelledSubset:
        return LabelledSubset(train_data, parts[name], labels[parts[name]], None if ids is None else ids[parts[name]])

    if test_data is not None:
        test_subset: LabelledSubset | None = _whole(test_data, _manifest_groups(test_data, by_image))
    else:
        test_subset = subset("test") if shares[2] > 0 else None
    return RealSplits(
        train=subset("train"),
        val=subset("val"),
        test=test_subset,
        method="stratified" if groups is None else "patient",
        **common,
    )
