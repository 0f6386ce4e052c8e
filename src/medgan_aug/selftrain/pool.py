"""Pools of synthetic images for a classifier to pseudo-label: a folder, a user dataset, or a generator.

Every pool is a map-style :class:`~torch.utils.data.Dataset` whose item ``i`` is a float32 image ``[C, R, R]`` in
[-1, 1], the input :func:`~medgan_aug.selftrain.predict` takes. Each also says where an image came from
(:meth:`source`, for reports), gives the image as the 8-bit pixels a PNG writer stores (:meth:`pixels`), and
carries the class indices of its images when they are known (labelled folders, conditional generators), counted
in the real data's class order.
"""

from __future__ import annotations

import numbers
import operator
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..data.dataset_writer import paired_images_folder
from ..data.image_folder import ImageFolderDataset, find_images
from ..data.images import ResizeMode
from ..data.intensity import encode_pixels
from ..data.mixing import match_classes
from ..generate.latents import MAX_SEED, class_indices, generator_inputs
from ..nets.generator_like import (
    GeneratorLike,
    check_sampling,
    generate_images,
    generator_device,
    generator_image_channels,
)
from .splits import _manifest_rows

__all__ = ["DatasetPool", "FolderPool", "GeneratorPool"]


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _item_index(index: int, length: int) -> int:
    i = operator.index(index)
    if i < 0:
        i += length
    if not 0 <= i < length:
        raise IndexError(f"index {index} out of range for a pool of {length} images")
    return i


def _check_num_channels(num_channels: int | None, have: int, what: str) -> int:
    """The pool's channel count: ``have`` by default; 3 from 1 repeats the gray channel; 1 from 3 is refused.

    ``what`` starts the error message, e.g. ``"the generator makes"``.
    """
    if num_channels is None:
        return have
    if num_channels not in (1, 3) or isinstance(num_channels, bool):
        raise ValueError(f"num_channels must be 1, 3 or None, got {num_channels!r}")
    if num_channels == 1 and have == 3:
        raise ValueError(f"num_channels=1, but {what} colour (3-channel) images; a pool cannot make them gray")
    return int(num_channels)


def _check_class_names(class_names: Sequence[str] | None) -> tuple[str, ...] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a sequence of names, not the single string {class_names!r}")
    names = tuple(class_names)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"class_names must be a non-empty sequence of non-empty strings, got {names!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"class_names lists a name twice: {names!r}")
    return names


def _encode(image: torch.Tensor) -> np.ndarray:
    """An image ``[C, R, R]`` in [-1, 1] as uint8 ``[R, R]`` (gray) or ``[R, R, 3]``, as :func:`synthesize` rounds."""
    unit = image.detach().cpu().double() * 0.5 + 0.5
    array = unit.numpy()
    return encode_pixels(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))


class FolderPool(Dataset[torch.Tensor]):
    """Images found recursively under a folder, e.g. one written by :func:`~medgan_aug.generate.synthesize`.

    Images are read and resized by :class:`~medgan_aug.data.ImageFolderDataset` (sorted by relative path,
    hidden files skipped, no labels read from ``dataset.json``). With ``class_names`` the folder is labelled:
    every image must lie in a first-level subfolder standing for a real class, matched as
    :func:`~medgan_aug.data.mix_datasets` does: the same name, else ``class<K>`` for the K-th name of
    ``class_names``, else ``images`` when there is a single class. The pool takes no ``transform``: the images
    it serves are the ones recorded as accepted; to pseudo-label transformed images, wrap
    ``ImageFolderDataset(..., transform=...)`` in a :class:`DatasetPool`.

    Parameters
    ----------
    root : str or os.PathLike
        The folder of synthetic images. A paired folder (``images/`` beside ``masks/``, as ``synthesize`` writes
        for a mask generator) is read from its ``images/``: the masks are not classified.
    resolution : int
        Side of the returned images, >= 4.
    num_channels : int, optional
        1 or 3. 3 with a grayscale folder repeats the gray channel (so that a gray pool can feed a classifier of
        colour images); None keeps the folder's.
    class_names : sequence of str, optional
        The real class names, in class-index order. None: the pool is unlabelled.
    resize : {"letterbox", "center-crop", "stretch"}
        How images of another size or shape are fitted to ``resolution``.

    Attributes
    ----------
    labels : numpy.ndarray or None
        int64 ``[N]`` class indices into ``class_names``; None without ``class_names``.
    class_names : tuple of str or None
        The real class names given.
    num_channels : int
        Channels of the returned images.
    resolution : int
        Side of the returned images.
    num_workers_limit : None
        Any number of DataLoader workers can read the pool.
    copy_flagged : numpy.ndarray or None
        bool ``[N]``: the images a copying screen marked as likely copies of the generator's training images
        (the ``copy_flagged`` column of the folder's ``manifest.csv``/``.json``, or its parent's for a split
        folder, as ``synthesize(screen=CopyScreen(..., drop=False))`` writes it); None when the manifest has no
        such column.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not an existing folder.
    ValueError
        If the folder holds no images, ``num_channels=1`` meets colour images, or with ``class_names`` an image
        lies directly in ``root`` or a subfolder matches no real class.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        resolution: int,
        *,
        num_channels: int | None = None,
        class_names: Sequence[str] | None = None,
        resize: ResizeMode = "letterbox",
    ) -> None:
        folder = Path(root).absolute()
        if not folder.is_dir():
            raise FileNotFoundError(f"synthetic pool folder {folder} does not exist or is not a directory")
        folder = paired_images_folder(folder)
        if not find_images(folder):
            raise ValueError(f"synthetic pool folder {folder} is empty: no PNG or JPEG images under it")
        names = _check_class_names(class_names)
        self._dataset = ImageFolderDataset(folder, resolution, labels=None, resize=resize)
        self.root = self._dataset.root
        self.resolution: int = self._dataset.resolution
        self.num_channels: int = _check_num_channels(num_channels, self._dataset.num_channels, f"folder {folder} holds")
        self.class_names: tuple[str, ...] | None = names
        self.num_workers_limit: int | None = None
        self._relpaths = [path.relative_to(self.root).as_posix() for path in self._dataset.paths]
        self.labels: np.ndarray | None = None if names is None else self._labels(names)
        self.copy_flagged: np.ndarray | None = self._copy_flags(Path(root).absolute())

    def _copy_flags(self, given: Path) -> np.ndarray | None:
        """The ``copy_flagged`` column of the folder's manifest (found as the real splits' are), by image; None
        without one (every image must have a value)."""
        found = _manifest_rows(given)
        if found is None or "copy_flagged" not in found[1][0]:
            return None
        manifest, rows, prefix = found
        flag_of = {str(row["file"]): str(row["copy_flagged"]).lower() == "true" for row in rows if row.get("file")}
        files = [prefix + path.relative_to(given).as_posix() for path in self._dataset.paths]
        missing = [name for name in files if name not in flag_of]
        if missing:
            raise ValueError(
                f"{manifest} has a copy_flagged column but no row for {len(missing)} of the pool's images "
                f"(e.g. {missing[0]!r}): the manifest does not describe this folder"
            )
        return np.array([flag_of[name] for name in files], dtype=bool)

    def _labels(self, names: tuple[str, ...]) -> np.ndarray:
        by_folder: dict[str, list[Path]] = {}
        for relpath, path in zip(self._relpaths, self._dataset.paths, strict=True):
            top, slash, _ = relpath.partition("/")
            if not slash:
                raise ValueError(
                    f"synthetic pool folder {self.root} has images outside class subfolders (e.g. {relpath!r}); "
                    "with class_names, every image must lie in a subfolder standing for its class"
                )
            by_folder.setdefault(top, []).append(path)
        index = {name: k for k, name in enumerate(names)}
        label_of = {
            path: index[name]
            for name, paths in match_classes(list(names), by_folder, self.root).items()
            for path in paths
        }
        return np.array([label_of[path] for path in self._dataset.paths], dtype=np.int64)

    def __len__(self) -> int:
        """Number of images."""
        return len(self._dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        """Return image ``index``, float32 ``[num_channels, resolution, resolution]`` in [-1, 1]."""
        image = self._dataset[_item_index(index, len(self))][0]
        if image.shape[0] != self.num_channels:
            image = image.repeat(self.num_channels, 1, 1)
        return image

    def source(self, index: int) -> str:
        """Return the path of image ``index`` relative to the folder, with ``/`` separators."""
        return self._relpaths[_item_index(index, len(self))]

    def pixels(self, index: int) -> np.ndarray:
        """Return image ``index`` as uint8 ``[R, R]`` (gray) or ``[R, R, 3]`` pixels, rounded to nearest."""
        return _encode(self[index])


class DatasetPool(Dataset[torch.Tensor]):
    """A user dataset of synthetic images as a pool.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style, yielding float images ``[C, R, R]`` in [-1, 1] (C 1 or 3) or tuples whose first element is
        one; every image must have the shape of item 0.
    labels : sequence of int or numpy.ndarray, optional
        One class index per item, in the real class order, when known.
    class_names : sequence of str, optional
        The real class names, in class-index order.

    Attributes
    ----------
    labels : numpy.ndarray or None
        int64 ``[N]`` class indices, or None.
    class_names : tuple of str or None
        The class names given.
    num_channels : int
        Channels of item 0.
    resolution : int
        Side of item 0.
    num_workers_limit : None
        The pool sets no limit; the wrapped dataset must pickle for worker processes.

    Raises
    ------
    ValueError
        If the dataset is empty, item 0 is not a square 1- or 3-channel image, or the labels do not fit.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        labels: Sequence[int] | np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"dataset must be a map-style Dataset (with __len__), got {type(dataset).__name__}")
        self._dataset = dataset
        self._length = len(dataset)
        if self._length == 0:
            raise ValueError("synthetic pool is empty: the dataset has no items")
        first = self._image(0, check=False)
        if first.ndim != 3 or first.shape[0] not in (1, 3) or first.shape[1] != first.shape[2]:
            raise ValueError(
                f"dataset item 0 must be an image [C, R, R] with C 1 or 3 and a square side, got {tuple(first.shape)}"
            )
        self.num_channels: int = int(first.shape[0])
        self.resolution: int = int(first.shape[1])
        self.class_names: tuple[str, ...] | None = _check_class_names(class_names)
        self.num_workers_limit: int | None = None
        self.labels: np.ndarray | None = None if labels is None else self._check_labels(labels)

    def _check_labels(self, labels: Sequence[int] | np.ndarray) -> np.ndarray:
        array = np.asarray(labels)
        if array.shape != (self._length,):
            raise ValueError(f"labels must hold one class index per item ({self._length}), got shape {array.shape}")
        if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"labels must be integer class indices, got dtype {array.dtype}")
        if array.min() < 0:
            raise ValueError(f"labels must not be negative, got {int(array.min())}")
        if self.class_names is not None and array.max() >= len(self.class_names):
            raise ValueError(
                f"labels go up to {int(array.max())}, but class_names names only {len(self.class_names)} classes"
            )
        return array.astype(np.int64)

    def _image(self, index: int, *, check: bool = True) -> torch.Tensor:
        item = self._dataset[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(image, torch.Tensor) or not image.is_floating_point():
            raise ValueError(
                f"dataset item {index} must hold a floating-point image tensor, got {type(image).__name__}"
            )
        if check and tuple(image.shape) != (self.num_channels, self.resolution, self.resolution):
            raise ValueError(
                f"dataset item {index} has shape {tuple(image.shape)}, but item 0 has "
                f"{(self.num_channels, self.resolution, self.resolution)}"
            )
        return image.float()

    def __len__(self) -> int:
        """Number of items of the dataset."""
        return self._length

    def __getitem__(self, index: int) -> torch.Tensor:
        """Return the image of item ``index``, float32 ``[C, R, R]``."""
        return self._image(_item_index(index, self._length))

    def source(self, index: int) -> str:
        """Return ``"item<index>"``."""
        return f"item{_item_index(index, self._length)}"

    def pixels(self, index: int) -> np.ndarray:
        """Return image ``index`` as uint8 ``[R, R]`` (gray) or ``[R, R, 3]``: ``x * 0.5 + 0.5`` clipped and rounded."""
        return _encode(self[index])


class GeneratorPool(Dataset[torch.Tensor]):
    """Images of a generator, made on demand from consecutive seeds and kept.

    Image ``i`` comes from seed ``seed_start + i`` (StyleGAN2-ADA's latent convention, as in
    :func:`~medgan_aug.generate.synthesize`) and is quantised to 8 bits exactly as ``synthesize`` writes it, so the
    image a classifier sees is the file ``seed<seed>.png`` that ``synthesize`` (or ``medgan-aug generate``) would
    write with the same seeds, ``batch_size``, truncation and noise mode. Reading an image generates the whole batch of
    ``batch_size`` images holding it (the batch boundaries are those of ``synthesize``, since the batch size can
    change pixels by one level) in one generator call; later reads come from the cache and never call the
    generator again.

    A generator that also makes segmentation masks (``G.mask_channels`` > 0) gives its images only: the pool holds
    the first ``G.img_channels - G.mask_channels`` channels, the ``images/`` files of ``synthesize``, since a
    classifier of the images has no use for the masks.

    Parameters
    ----------
    G : GeneratorLike
        The generator: this library's, or any object with ``z_dim``, ``c_dim``, ``img_resolution``,
        ``img_channels`` and ``G(z, c)`` (:class:`~medgan_aug.nets.GeneratorLike`), which must then give the same
        images for the same ``(z, c)`` for the pool to be the set ``synthesize`` writes. Its image part
        (without mask channels) 1- or 3-channel.
    n : int
        Number of images, >= 1.
    resolution : int, optional
        Side of the returned images; another side than ``G.img_resolution`` resizes each 8-bit image
        (antialiased bilinear) and rounds it to 8 bits again. None keeps the generator's.
    num_channels : int, optional
        1 or 3; 3 with a grayscale generator repeats the gray channel. None keeps the generator's.
    classes : int or sequence of int, optional
        For a conditional generator: one class index for all images, or several among which the images are
        spread evenly in the order given (as ``synthesize`` spreads them). None: all classes ``range(G.c_dim)``.
        Must be None for an unconditional generator.
    seed_start : int
        Seed of image 0; the seeds must lie in [0, 2**32 - 1].
    truncation_psi : float
        Truncation; 1 for none, the only value generators other than this library's take.
    noise_mode : {"const", "none"}, optional
        Per-pixel noise of this library's generators (default ``"const"``); ``"random"`` is refused since its
        images cannot be made again from the seeds. Other generators take only None.
    batch_size : int
        Images per generator call.
    device : str or torch.device, optional
        Where to run ``G`` (it is moved there); default: where its first parameter or buffer is.
    progress : bool
        Show a progress bar in :meth:`generate_all`.

    Attributes
    ----------
    G : GeneratorLike
        The generator (on ``device``).
    seeds : numpy.ndarray
        int64 ``[n]``, ``seed_start + arange(n)``.
    labels : numpy.ndarray or None
        int64 ``[n]`` generator class indices of the images (class K stands for the K-th real class); None for
        an unconditional generator.
    class_names : None
        The generator knows class indices only.
    num_channels : int
        Channels of the returned images.
    resolution : int
        Side of the returned images.
    num_workers_limit : int
        0: the generator lives in this process, so DataLoaders must read the pool with ``num_workers=0``.

    Notes
    -----
    The cache is allocated at construction: ``n * C * R * R`` bytes, C being the generator's image channels and R
    ``resolution`` (100 000 gray images of 256 x 256 take 6.6 GB).
    """

    def __init__(
        self,
        G: GeneratorLike,
        n: int,
        *,
        resolution: int | None = None,
        num_channels: int | None = None,
        classes: int | Sequence[int] | None = None,
        seed_start: int = 0,
        truncation_psi: float = 1.0,
        noise_mode: Literal["const", "none"] | None = None,
        batch_size: int = 16,
        device: str | torch.device | None = None,
        progress: bool = True,
    ) -> None:
        channels = generator_image_channels(G, "a pool needs 1 or 3")
        n = _positive_int(n, "n")
        self.batch_size = _positive_int(batch_size, "batch_size")
        if noise_mode == "random":
            raise ValueError(
                "noise_mode='random' draws new noise on every call, so a pool's images could not be made again from "
                "their seeds; use 'const' or 'none'"
            )
        check_sampling(G, truncation_psi, noise_mode)
        if isinstance(seed_start, bool) or not isinstance(seed_start, numbers.Integral):
            raise ValueError(f"seed_start must be an integer, got {seed_start!r}")
        if seed_start < 0 or seed_start + n - 1 > MAX_SEED:
            raise ValueError(
                f"seeds seed_start={seed_start} to {seed_start + n - 1} (n={n}) must lie in [0, 2**32 - 1]"
            )
        self.resolution: int = G.img_resolution if resolution is None else _positive_int(resolution, "resolution")
        self.num_channels: int = _check_num_channels(num_channels, channels, "the generator makes")
        if G.c_dim > 0 and classes is None:
            classes = range(G.c_dim)
        indices = class_indices(classes, n, G.c_dim)

        self.G = G if device is None else G.to(device)
        self._device = generator_device(self.G)
        self._class_list = indices
        self.seeds: np.ndarray = np.arange(n, dtype=np.int64) + int(seed_start)
        self.labels: np.ndarray | None = None if G.c_dim == 0 else np.array(indices, dtype=np.int64)
        self.class_names: tuple[str, ...] | None = None
        self.num_workers_limit: int | None = 0
        self.truncation_psi = float(truncation_psi)
        self.noise_mode = noise_mode
        self.progress = bool(progress)
        self._channels = channels
        self._cache = torch.zeros(n, channels, self.resolution, self.resolution, dtype=torch.uint8)
        self._done = torch.zeros(-(-n // self.batch_size), dtype=torch.bool)

    def _generate(self, batch: int) -> int:
        """Fill the cache for batch ``batch``; return its number of images."""
        begin = batch * self.batch_size
        end = min(begin + self.batch_size, len(self))
        z, c = generator_inputs(
            self.G, [int(s) for s in self.seeds[begin:end]], self._class_list[begin:end], self._device
        )
        with torch.no_grad():
            images = generate_images(self.G, z, c, self.truncation_psi, self.noise_mode)
        # The float32 steps and encode_pixels are those of synthesize, so the cached bytes are the bytes it writes.
        unit = (images[:, : self._channels].float() * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
        encoded = np.stack([encode_pixels(image[:, :, 0] if image.shape[2] == 1 else image) for image in unit])
        pixels = torch.from_numpy(encoded.reshape(end - begin, *unit.shape[1:])).permute(0, 3, 1, 2)
        if self.resolution != pixels.shape[-1]:
            resized = F.interpolate(
                pixels.float(), size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
            pixels = resized.round().clamp(0, 255).to(torch.uint8)
        self._cache[begin:end] = pixels
        self._done[batch] = True
        return end - begin

    def generate_all(self) -> None:
        """Generate every image not generated yet, with a progress bar (unless ``progress`` was False)."""
        # The last batch may be short, so count the images done rather than multiply batches.
        finished = sum(
            min(self.batch_size, len(self) - b * self.batch_size) for b in range(len(self._done)) if self._done[b]
        )
        with tqdm(total=len(self), initial=finished, unit="img", desc="generating", disable=not self.progress) as bar:
            for batch in range(len(self._done)):
                if not self._done[batch]:
                    bar.update(self._generate(batch))

    def _stored(self, index: int) -> torch.Tensor:
        i = _item_index(index, len(self))
        batch = i // self.batch_size
        if not self._done[batch]:
            self._generate(batch)
        return self._cache[i]

    def __len__(self) -> int:
        """Number of images, ``n``."""
        return self._cache.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        """Return image ``index``, float32 ``[num_channels, resolution, resolution]`` in [-1, 1].

        The value is ``pixel / 255 * 2 - 1``, what :class:`FolderPool` reads from the 8-bit PNG.
        """
        image = self._stored(index).float() / 255 * 2 - 1
        if image.shape[0] != self.num_channels:
            image = image.repeat(self.num_channels, 1, 1)
        return image

    def source(self, index: int) -> str:
        """Return ``"seed<N>"``, N being the seed of image ``index``."""
        return f"seed{int(self.seeds[_item_index(index, len(self))])}"

    def pixels(self, index: int) -> np.ndarray:
        """Return image ``index`` as uint8 ``[R, R]`` (gray) or ``[R, R, 3]``.

        At the generator's resolution these are the pixels ``synthesize`` writes.
        """
        stored = self._stored(index).permute(1, 2, 0).numpy()
        if self.num_channels == 1:
            return stored[:, :, 0].copy()
        return np.ascontiguousarray(np.broadcast_to(stored, (*stored.shape[:2], 3)))
