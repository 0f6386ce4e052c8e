"""Image sets (folders, tensors and tensor files, datasets) served to torch-fidelity as uint8 RGB images, with a
content hash; float pixels are read in a stated range."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..data.dataset_writer import paired_images_folder
from ..data.image_folder import find_images
from ..data.images import IMAGE_EXTENSIONS, load_image

__all__ = ["VALUE_RANGES", "ImageSet", "ImageSetSource", "check_value_range", "float_to_uint8", "to_uint8_rgb"]

ImageSetSource = str | os.PathLike | torch.Tensor | Dataset
"""What :meth:`FIDScorer.score` accepts as a set of images: a folder or tensor file, a ``[N, C, H, W]`` tensor or a
dataset."""

VALUE_RANGES: tuple[tuple[int, int], ...] = ((-1, 1), (0, 1), (0, 255))
"""The ranges float pixels can be read in: a generator's [-1, 1], torchvision's [0, 1], or 8-bit levels as floats."""

# Files read as one [N, C, H, W] tensor rather than searched as a folder of images.
_TENSOR_SUFFIXES = (".pt", ".npy")


def check_value_range(value_range: Any) -> tuple[int, int]:
    """Return ``value_range`` as one of :data:`VALUE_RANGES`.

    Parameters
    ----------
    value_range : pair of numbers
        ``(-1, 1)``, ``(0, 1)`` or ``(0, 255)``, as a tuple or list of ints or floats.

    Returns
    -------
    tuple of int
        The matching entry of :data:`VALUE_RANGES`.

    Raises
    ------
    ValueError
        For anything else.
    """
    pair: tuple[float, ...] = ()
    if not isinstance(value_range, (str, bytes)):
        try:
            pair = tuple(float(v) for v in value_range)
        except (TypeError, ValueError):
            pair = ()
    for accepted in VALUE_RANGES:
        if pair == accepted:
            return accepted
    raise ValueError(
        f"value_range must be one of {', '.join(map(str, VALUE_RANGES))} (the range float pixels are read in), "
        f"got {value_range!r}"
    )


def float_to_uint8(images: torch.Tensor, what: str, value_range: tuple[float, float] = (-1, 1)) -> torch.Tensor:
    """Map float pixels (any shape) in ``value_range`` to uint8: its ends to 0 and 255, nearest level, outside clipped.

    Parameters
    ----------
    images : torch.Tensor
        Floating point pixels, on any device.
    what : str
        Names the pixels in the error message.
    value_range : pair of numbers
        One of :data:`VALUE_RANGES`; default a generator's [-1, 1].

    Returns
    -------
    torch.Tensor
        uint8 pixels of the same shape, on the same device.

    Raises
    ------
    ValueError
        For non-finite values or another range.
    """
    low, high = check_value_range(value_range)
    if not torch.isfinite(images).all():
        raise ValueError(f"{what} has non-finite values")
    # +0.5 then truncation rounds to the nearest of the 256 levels.
    return ((images.float() - low) * (255 / (high - low)) + 0.5).clamp(0, 255).to(torch.uint8)


def to_uint8_rgb(image: torch.Tensor, where: str, value_range: tuple[float, float] = (-1, 1)) -> torch.Tensor:
    """Convert one ``[C, H, W]`` image (C 1 or 3; uint8, or float in ``value_range``) to uint8 ``[3, H, W]``.

    Floats map the ends of ``value_range`` to 0 and 255, rounding to the nearest level and clipping values outside
    (a generator's raw output overshoots slightly). Grayscale is repeated into the three channels.

    Parameters
    ----------
    image : torch.Tensor
        The image.
    where : str
        Names the image in error messages, e.g. ``"fake set, image 3"``.
    value_range : pair of numbers
        One of :data:`VALUE_RANGES`; default a generator's [-1, 1].

    Returns
    -------
    torch.Tensor
        uint8 ``[3, H, W]`` on the CPU.

    Raises
    ------
    ValueError
        For another shape or dtype, or non-finite float values.
    """
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{where}: expected a torch.Tensor image, got {type(image).__name__}")
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"{where}: expected an image of shape [C, H, W] with C 1 or 3, got {list(image.shape)}")
    image = image.detach().cpu()
    if image.dtype.is_floating_point:
        image = float_to_uint8(image, f"{where}: image", value_range)
    elif image.dtype != torch.uint8:
        raise ValueError(f"{where}: expected uint8 or floating point pixels, got {image.dtype}")
    return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image.contiguous()


def _first_tensor(item: Any) -> Any:
    # Datasets such as ImageFolderDataset yield (image, label) pairs.
    return item[0] if isinstance(item, (tuple, list)) and item else item


class ImageSet(Dataset[torch.Tensor]):
    """A set of images as uint8 ``[3, H, W]`` items of one size, the input torch-fidelity expects.

    While it serves images, the set keeps the smallest and largest float pixel it has read (a tensor's at once), so
    that :meth:`misread_warning` can tell when ``value_range`` does not fit the pixels.

    Parameters
    ----------
    source : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
        A folder searched recursively for PNG/JPEG files (decoded with :func:`~medgan_aug.data.load_image`,
        8- and 16-bit, rounded to 8 bits; a paired folder, ``images/`` beside ``masks/``, from its
        ``images/``); a ``[N, C, H, W]`` tensor (C 1 or 3), uint8 or float, or a ``.pt`` file holding one
        (saved with :func:`torch.save`) or a ``.npy`` file; or a dataset whose items are such ``[C, H, W]`` images
        or tuples starting with one. A dataset with a ``mask_channels`` attribute
        (:class:`~medgan_aug.data.PairedImageFolderDataset`) yields image + mask channels: only the image channels
        are used.
    name : str
        What the set is, for error messages (``"real"``, ``"fake"``).
    value_range : pair of numbers
        The range float pixels of tensors and datasets are read in, one of :data:`VALUE_RANGES`; values outside
        are clipped. Folders are decoded from their files whatever it is.

    Raises
    ------
    FileNotFoundError
        If a folder or file does not exist.
    ValueError
        If a folder holds no images, images differ in size, a tensor has the wrong shape or dtype, a tensor file
        holds no tensor, or ``value_range`` is not one of :data:`VALUE_RANGES`.
    """

    def __init__(self, source: ImageSetSource, name: str, value_range: tuple[float, float] = (-1, 1)) -> None:
        self.name = name
        self.value_range = check_value_range(value_range)
        self._paths: list[Path] | None = None
        self._tensor: torch.Tensor | None = None
        self._dataset: Dataset | None = None
        self._low, self._high = math.inf, -math.inf
        if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in _TENSOR_SUFFIXES:
            self._use_tensor(self._load_tensor(Path(source), name), name, f"the {name} set ({source})")
        elif isinstance(source, (str, os.PathLike)):
            # A paired folder (images/ beside masks/): the metrics judge the images.
            self._root = paired_images_folder(source)
            self._paths = self._scan(self._root)
            self.description = f"the {name} set ({source})"
            self.image_size = self._folder_size(self._paths)
        elif isinstance(source, torch.Tensor):
            self._use_tensor(source, name, f"the {name} set (tensor)")
        elif isinstance(source, Dataset):
            self._dataset = source
            self._mask_channels = int(getattr(source, "mask_channels", 0))
            self.description = f"the {name} set ({type(source).__name__})"
            self.image_size = (0, 0)
            if len(self) > 0:
                self.image_size = tuple(self[0].shape[1:])
        else:
            raise ValueError(
                f"{name} images: expected a folder path, a .pt/.npy file, a [N, C, H, W] tensor or a Dataset, "
                f"got {type(source).__name__}"
            )

    @staticmethod
    def _load_tensor(path: Path, name: str) -> torch.Tensor:
        if not path.is_file():
            raise FileNotFoundError(f"{name} images: tensor file {path} does not exist")
        try:
            if path.suffix.lower() == ".npy":
                loaded: Any = torch.from_numpy(np.load(path, allow_pickle=False))
            else:
                loaded = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"{name} images: cannot read {path}: {error}") from error
        if not isinstance(loaded, torch.Tensor):
            raise ValueError(f"{name} images: {path} holds a {type(loaded).__name__}, not a [N, C, H, W] tensor")
        return loaded

    def _use_tensor(self, tensor: torch.Tensor, name: str, description: str) -> None:
        if tensor.dim() != 4 or tensor.shape[1] not in (1, 3):
            raise ValueError(f"{name} images: expected a tensor [N, C, H, W] with C 1 or 3, got {list(tensor.shape)}")
        if tensor.dtype != torch.uint8 and not tensor.dtype.is_floating_point:
            raise ValueError(f"{name} images: expected uint8 or floating point pixels, got {tensor.dtype}")
        self._tensor = tensor.detach()
        self.description = description
        self.image_size = (int(tensor.shape[2]), int(tensor.shape[3]))
        self._note_extremes(self._tensor)

    def _note_extremes(self, pixels: torch.Tensor) -> None:
        if pixels.dtype.is_floating_point and pixels.numel():
            low, high = torch.aminmax(pixels.detach())
            self._low, self._high = min(self._low, float(low)), max(self._high, float(high))

    def misread_warning(self) -> str | None:
        """Return a warning when the float pixels read so far look as if ``value_range`` were the wrong one.

        Read with (-1, 1), pixels that are all >= 0 look like [0, 1] images (or 8-bit levels above 1); with (0, 1),
        pixels below -0.1 look like [-1, 1] and above 1.5 like 8-bit levels; with (0, 255), pixels all <= 1 look
        like [0, 1] or [-1, 1]. None when they fit, or no float pixel was read.
        """
        low, high = self._low, self._high
        if low > high:
            return None
        if self.value_range == (-1, 1) and low >= 0:
            likely = (0, 1) if high <= 1 else (0, 255)
        elif self.value_range == (0, 1) and (low < -0.1 or high > 1.5):
            likely = (-1, 1) if low < -0.1 else (0, 255)
        elif self.value_range == (0, 255) and high <= 1:
            likely = (0, 1) if low >= 0 else (-1, 1)
        else:
            return None
        return (
            f"{self.description} has float pixels from {low:.4g} to {high:.4g}, read with value_range="
            f"{self.value_range}: they look like {likely}; pass value_range={likely} if that is their range"
        )

    @staticmethod
    def _scan(folder: Path) -> list[Path]:
        if not folder.exists():
            raise FileNotFoundError(f"image folder {folder} does not exist")
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} is not a directory")
        paths = [folder / p for p in find_images(folder)]
        if not paths:
            raise ValueError(
                f"no images found under {folder} (searched recursively for {', '.join(IMAGE_EXTENSIONS)}, any case)"
            )
        return paths

    @staticmethod
    def _folder_size(paths: list[Path]) -> tuple[int, int]:
        first: dict[tuple[int, int], Path] = {}
        for path in paths:
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except Exception as error:
                raise ValueError(f"{path}: cannot read image header: {error}") from error
            first.setdefault((height, width), path)
            if len(first) > 1:
                (size_a, path_a), (size_b, path_b) = first.items()
                raise ValueError(
                    f"images differ in size: {path_a} is {size_a[0]}x{size_a[1]} but {path_b} is "
                    f"{size_b[0]}x{size_b[1]} (HxW); resize them to one size first, e.g. with medgan-aug prepare"
                )
        return next(iter(first))

    def __len__(self) -> int:
        """Number of images."""
        if self._paths is not None:
            return len(self._paths)
        if self._tensor is not None:
            return int(self._tensor.shape[0])
        return len(self._dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> torch.Tensor:
        """Return image ``index`` as uint8 ``[3, H, W]``."""
        if self._paths is not None:
            path = self._paths[index]
            # load_image gives [0, 1]; [-1, 1] is what to_uint8_rgb takes.
            image = to_uint8_rgb(torch.from_numpy(load_image(path)) * 2 - 1, str(path))
        elif self._tensor is not None:
            image = to_uint8_rgb(self._tensor[index], f"{self.description}, image {index}", self.value_range)
        else:
            image = _first_tensor(self._dataset[index])
            if self._mask_channels and isinstance(image, torch.Tensor):
                image = image[: -self._mask_channels]
            if isinstance(image, torch.Tensor):
                self._note_extremes(image)
            image = to_uint8_rgb(image, f"{self.description}, item {index}", self.value_range)
        if self.image_size != (0, 0) and tuple(image.shape[1:]) != self.image_size:
            raise ValueError(
                f"{self.description}: image {index} is {image.shape[1]}x{image.shape[2]} but the first is "
                f"{self.image_size[0]}x{self.image_size[1]} (HxW); all images must have one size"
            )
        return image

    def item_name(self, index: int) -> str:
        """What names image ``index``: its path relative to the folder for a folder, else ``"#<index>"``."""
        if self._paths is not None:
            return self._paths[index].relative_to(self._root).as_posix()
        return f"#{index}"

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the set's content.

        Folders hash their files' relative paths and bytes, tensors their dtype, shape and bytes (and
        ``value_range`` for floats read in another range than (-1, 1)), datasets the uint8 images they yield (one
        pass over the dataset).
        """
        digest = hashlib.sha256()
        if self._paths is not None:
            digest.update(b"folder")
            for path in self._paths:
                data = path.read_bytes()
                digest.update(f"{path.relative_to(self._root).as_posix()}\0{len(data)}\0".encode())
                digest.update(data)
        elif self._tensor is not None:
            tensor = self._tensor.cpu().contiguous()
            digest.update(f"tensor\0{tensor.dtype}\0{list(tensor.shape)}\0".encode())
            # Other ranges make other images of the same floats; (-1, 1) keeps the digests of earlier versions.
            if tensor.dtype.is_floating_point and self.value_range != (-1, 1):
                digest.update(f"range\0{self.value_range}\0".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        else:
            digest.update(b"dataset")
            for index in range(len(self)):
                image = self[index]
                digest.update(f"{list(image.shape)}\0".encode())
                digest.update(image.numpy())
        return digest.hexdigest()
