"""Image sets (folders, tensors, datasets) served to torch-fidelity as uint8 RGB images, with a content hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from ..data.dataset_writer import paired_images_folder
from ..data.image_folder import _find_images
from ..data.images import IMAGE_EXTENSIONS, load_image

__all__ = ["ImageSet", "ImageSetSource", "float_to_uint8", "to_uint8_rgb"]

ImageSetSource = str | os.PathLike | torch.Tensor | Dataset
"""What :meth:`FIDScorer.score` accepts as a set of images: a folder, a ``[N, C, H, W]`` tensor or a dataset."""


def float_to_uint8(images: torch.Tensor, what: str) -> torch.Tensor:
    """Map float pixels in [-1, 1] (any shape) to uint8: -1 to 0, 1 to 255, nearest level, outside clipped.

    Parameters
    ----------
    images : torch.Tensor
        Floating point pixels, on any device.
    what : str
        Names the pixels in the error message.

    Returns
    -------
    torch.Tensor
        uint8 pixels of the same shape, on the same device.

    Raises
    ------
    ValueError
        For non-finite values.
    """
    if not torch.isfinite(images).all():
        raise ValueError(f"{what} has non-finite values")
    # +0.5 then truncation rounds to the nearest of the 256 levels.
    return ((images.float() + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)


def to_uint8_rgb(image: torch.Tensor, where: str) -> torch.Tensor:
    """Convert one ``[C, H, W]`` image (C 1 or 3; uint8, or float in [-1, 1]) to uint8 ``[3, H, W]``.

    Floats map -1 to 0 and 1 to 255, rounding to the nearest level and clipping values outside [-1, 1] (a
    generator's raw output overshoots slightly). Grayscale is repeated into the three channels.

    Parameters
    ----------
    image : torch.Tensor
        The image.
    where : str
        Names the image in error messages, e.g. ``"fake set, image 3"``.

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
        image = float_to_uint8(image, f"{where}: image")
    elif image.dtype != torch.uint8:
        raise ValueError(f"{where}: expected uint8 or floating point pixels, got {image.dtype}")
    return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image.contiguous()


def _first_tensor(item: Any) -> Any:
    # Datasets such as ImageFolderDataset yield (image, label) pairs.
    return item[0] if isinstance(item, (tuple, list)) and item else item


class ImageSet(Dataset[torch.Tensor]):
    """A set of images as uint8 ``[3, H, W]`` items of one size, the input torch-fidelity expects.

    Parameters
    ----------
    source : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
        A folder searched recursively for PNG/JPEG files (decoded with :func:`~medgan_aug.data.load_image`,
        8- and 16-bit, rounded to 8 bits; a paired folder, ``images/`` beside ``masks/``, from its
        ``images/``); a ``[N, C, H, W]`` tensor (C 1 or 3), uint8 or float in [-1, 1];
        or a dataset whose items are such ``[C, H, W]`` images or tuples starting with one. A dataset with a
        ``mask_channels`` attribute (:class:`~medgan_aug.data.PairedImageFolderDataset`) yields image + mask
        channels: only the image channels are used.
    name : str
        What the set is, for error messages (``"real"``, ``"fake"``).

    Raises
    ------
    FileNotFoundError
        If a folder does not exist.
    ValueError
        If a folder holds no images, images differ in size, or a tensor has the wrong shape or dtype.
    """

    def __init__(self, source: ImageSetSource, name: str) -> None:
        self.name = name
        self._paths: list[Path] | None = None
        self._tensor: torch.Tensor | None = None
        self._dataset: Dataset | None = None
        if isinstance(source, (str, os.PathLike)):
            # A paired folder (images/ beside masks/): the metrics judge the images.
            self._root = paired_images_folder(source)
            self._paths = self._scan(self._root)
            self.description = f"the {name} set ({source})"
            self.image_size = self._folder_size(self._paths)
        elif isinstance(source, torch.Tensor):
            if source.dim() != 4 or source.shape[1] not in (1, 3):
                raise ValueError(
                    f"{name} images: expected a tensor [N, C, H, W] with C 1 or 3, got {list(source.shape)}"
                )
            if source.dtype != torch.uint8 and not source.dtype.is_floating_point:
                raise ValueError(f"{name} images: expected uint8 or floating point pixels, got {source.dtype}")
            self._tensor = source.detach()
            self.description = f"the {name} set (tensor)"
            self.image_size = (int(source.shape[2]), int(source.shape[3]))
        elif isinstance(source, Dataset):
            self._dataset = source
            self._mask_channels = int(getattr(source, "mask_channels", 0))
            self.description = f"the {name} set ({type(source).__name__})"
            self.image_size = (0, 0)
            if len(self) > 0:
                self.image_size = tuple(self[0].shape[1:])
        else:
            raise ValueError(
                f"{name} images: expected a folder path, a [N, C, H, W] tensor or a Dataset, "
                f"got {type(source).__name__}"
            )

    @staticmethod
    def _scan(folder: Path) -> list[Path]:
        if not folder.exists():
            raise FileNotFoundError(f"image folder {folder} does not exist")
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} is not a directory")
        paths = [folder / p for p in _find_images(folder)]
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
            image = to_uint8_rgb(self._tensor[index], f"{self.description}, image {index}")
        else:
            image = _first_tensor(self._dataset[index])
            if self._mask_channels and isinstance(image, torch.Tensor):
                image = image[: -self._mask_channels]
            image = to_uint8_rgb(image, f"{self.description}, item {index}")
        if self.image_size != (0, 0) and tuple(image.shape[1:]) != self.image_size:
            raise ValueError(
                f"{self.description}: image {index} is {image.shape[1]}x{image.shape[2]} but the first is "
                f"{self.image_size[0]}x{self.image_size[1]} (HxW); all images must have one size"
            )
        return image

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the set's content.

        Folders hash their files' relative paths and bytes, tensors their dtype, shape and bytes, datasets the
        uint8 images they yield (one pass over the dataset).
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
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
        else:
            digest.update(b"dataset")
            for index in range(len(self)):
                image = self[index]
                digest.update(f"{list(image.shape)}\0".encode())
                digest.update(image.numpy())
        return digest.hexdigest()
