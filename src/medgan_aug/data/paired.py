"""Images paired with binary label masks, served as extra channels so that a GAN learns to generate both."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .image_folder import ImageFolderDataset, LabelSource
from .images import IMAGE_EXTENSIONS, ResizeMode, _open, resize_square

__all__ = ["PairedImageFolderDataset", "split_masks"]

# Single-channel Pillow modes whose pixel values are the mask's values ('1' is a bilevel PNG).
_MASK_MODES = frozenset({"1", "L", "I;16", "I;16L", "I;16B", "I"})
_MAX_SHOWN_VALUES = 5


def _check_mode(mask: Image.Image, path: Path) -> None:
    if mask.mode not in _MASK_MODES:
        raise ValueError(
            f"mask {path} has image mode {mask.mode!r}; a mask must be single-channel "
            f"(modes {', '.join(sorted(_MASK_MODES))})"
        )


def _read_mask(path: Path) -> np.ndarray:
    """The stored values of a single-channel mask file, ``[H, W]``."""
    with _open(path) as image:
        _check_mode(image, path)
        try:
            image.load()
            return np.asarray(image)
        except Exception as error:
            raise ValueError(f"mask {path}: cannot decode image: {error}") from error


def _foreground_fraction(path: Path) -> float:
    """Fraction of the mask's pixels that are foreground, after checking that it holds at most one non-zero value."""
    values = _read_mask(path)
    foreground = values != 0
    selected = values[foreground]
    if selected.size and selected.min() != selected.max():
        distinct = np.unique(values)
        shown = ", ".join(str(v) for v in distinct[:_MAX_SHOWN_VALUES])
        if len(distinct) > _MAX_SHOWN_VALUES:
            shown += f", ... ({len(distinct)} distinct)"
        raise ValueError(f"mask {path} is not binary: values {shown}; a mask holds 0 and one foreground value")
    return float(foreground.mean())


class _MaskFolder:
    """Finds masks by relative folder and stem under one mask folder, listing each subfolder once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._listings: dict[Path, dict[str, list[str]]] = {}

    def _stems(self, folder: Path) -> dict[str, list[str]]:
        if folder not in self._listings:
            by_stem: dict[str, list[str]] = {}
            if folder.is_dir():
                for name in sorted(os.listdir(folder)):
                    stem, extension = os.path.splitext(name)
                    if not name.startswith(".") and extension.lower() in IMAGE_EXTENSIONS:
                        by_stem.setdefault(stem, []).append(name)
            self._listings[folder] = by_stem
        return self._listings[folder]

    def find(self, image: Path, relative: Path) -> Path:
        folder = self.root / relative.parent
        stem = os.path.splitext(relative.name)[0]
        candidates = self._stems(folder).get(stem, [])
        if not candidates:
            looked_for = ", ".join(str(folder / (stem + extension)) for extension in IMAGE_EXTENSIONS)
            raise FileNotFoundError(f"image {image} has no mask: looked for {looked_for} (extension in any case)")
        if len(candidates) > 1:
            listed = ", ".join(str(folder / c) for c in candidates)
            raise ValueError(f"image {image} has {len(candidates)} candidate masks {listed}; keep one per image")
        return folder / candidates[0]


def _image_size(path: Path) -> tuple[int, int]:
    with _open(path) as image:
        return image.size


class PairedImageFolderDataset(ImageFolderDataset):
    """An image folder whose images each have a binary mask per mask folder, served as extra channels.

    The mask of ``<images>/<rel>/<stem>.<ext>`` is ``<masks>/<rel>/<stem>.<any image extension>``: the
    layout ``DatasetWriter(masks=True)`` and ``VolumeSlicer.write(write_masks=True)`` produce. A mask is a
    single-channel image of the same size as its image holding 0 (background) and at most one other value
    (foreground). Construction reads the headers of images and masks and decodes every mask once, to check
    them and to record their foreground fractions; ``dataset[i]`` decodes image ``i`` and its masks.

    Items are ``(float32 [C + M, resolution, resolution], label [c_dim])``: the image exactly as
    :class:`ImageFolderDataset` gives it, then one channel per mask, -1 for background and +1 for foreground
    (each mask is resized like the image as a 0/1 float image and thresholded at 0.5, so it stays binary and
    aligned).

    Parameters
    ----------
    images : str or os.PathLike
        Image folder; labels come from its class subfolders or ``dataset.json`` as in
        :class:`ImageFolderDataset`.
    masks : str, os.PathLike or sequence of them
        One mask folder, or several (e.g. mitochondria and membranes): one mask channel per folder, in order.
    resolution : int
        Side of the square training images, as in :class:`ImageFolderDataset`.
    resize : {"letterbox", "center-crop", "stretch"}
        How images become square; their masks are placed identically, letterbox padding being background.
    labels : {"auto", "folders", "json"} or None
        Label source, as in :class:`ImageFolderDataset`.
    mirror : bool
        Append left-right flipped copies; the masks are flipped with their image.
    max_images : int, optional
        Keep only the first ``max_images`` images (after sorting).
    transform : callable, optional
        Applied to each item's image and mask channels together (``[C + M, resolution, resolution]``), so that
        a geometric transform moves both alike.

    Attributes
    ----------
    mask_roots : list of pathlib.Path
        The absolute mask folders, in channel order.
    mask_paths : list of list of pathlib.Path
        Per image (in item order, without mirrored copies), its mask in each mask folder.
    num_channels : int
        Channels of the images alone (1 or 3); the items have ``num_channels + mask_channels``.
    """

    def __init__(
        self,
        images: str | os.PathLike[str],
        masks: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        resolution: int,
        *,
        resize: ResizeMode = "letterbox",
        labels: LabelSource | None = "auto",
        mirror: bool = False,
        max_images: int | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__(
            images, resolution, resize=resize, labels=labels, mirror=mirror, max_images=max_images, transform=transform
        )
        folders = [masks] if isinstance(masks, (str, os.PathLike)) else list(masks)
        if not folders:
            raise ValueError("masks must name at least one mask folder")
        self.mask_roots = [Path(folder).absolute() for folder in folders]
        for root in self.mask_roots:
            if not root.is_dir():
                raise FileNotFoundError(f"mask folder {root} does not exist or is not a directory")

        finders = [_MaskFolder(root) for root in self.mask_roots]
        self.mask_paths: list[list[Path]] = []
        self._sizes: list[tuple[int, int]] = []
        for image in self.paths:
            relative = image.relative_to(self.root)
            paths = [finder.find(image, relative) for finder in finders]
            width, height = _image_size(image)
            for path in paths:
                with _open(path) as mask:
                    _check_mode(mask, path)
                    if mask.size != (width, height):
                        raise ValueError(
                            f"mask {path} is {mask.size[0]}x{mask.size[1]} but its image {image} is {width}x{height} "
                            "(width x height); a mask must match its image pixel for pixel"
                        )
            self.mask_paths.append(paths)
            self._sizes.append((height, width))
        # Decoded only after every header passed, so that a wrong pairing is reported before a slow full read.
        self._foreground = np.array([[_foreground_fraction(p) for p in paths] for paths in self.mask_paths])

    @property
    def mask_channels(self) -> int:
        """Number of mask channels (one per mask folder)."""
        return len(self.mask_roots)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape ``(C + M, resolution, resolution)`` of the returned items (image, then mask channels)."""
        return (self.num_channels + self.mask_channels, self.resolution, self.resolution)

    def _load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``index`` as ``(float32 [C + M, resolution, resolution], label [c_dim])``, before the transform.

        The first C channels are the image exactly as :class:`ImageFolderDataset` gives it; the M mask channels
        are -1 for background and +1 for foreground: each mask is resized like the image as a 0/1 float image
        and thresholded at 0.5 (values above it are foreground), so it stays binary and aligned.
        """
        image, label = super()._load(index)
        i, flipped = self._image_index(index)
        planes = []
        for path in self.mask_paths[i]:
            values = _read_mask(path)
            if values.shape != self._sizes[i]:
                raise ValueError(f"mask {path} now has shape {values.shape}, its image {self._sizes[i]}")
            planes.append(values != 0)
        masks = torch.from_numpy(np.stack(planes)).to(image.dtype)
        foreground = resize_square(masks, self.resolution, self.resize) > 0.5
        if flipped:
            foreground = foreground.flip(2)
        return torch.cat([image, foreground.to(image.dtype) * 2 - 1]), label

    def describe(self) -> dict[str, Any]:
        """Return the configuration as JSON-serialisable data: :meth:`ImageFolderDataset.describe` plus the masks.

        ``foreground_fraction`` is the mean foreground fraction of each mask channel over the images.
        """
        fractions = self._foreground.mean(axis=0)
        return super().describe() | {
            "masks": [str(root) for root in self.mask_roots],
            "mask_channels": self.mask_channels,
            "foreground_fraction": [round(float(f), 4) for f in fractions],
        }

    def __repr__(self) -> str:
        """Summarise the dataset in one line."""
        masks = [str(root) for root in self.mask_roots]
        return f"{super().__repr__()[:-1]}, masks={masks!r})"


def split_masks(batch: torch.Tensor, mask_channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split image + mask channels in [-1, 1] into the images and boolean masks.

    Parameters
    ----------
    batch : torch.Tensor
        ``[N, C + M, H, W]`` or ``[C + M, H, W]``, e.g. from :class:`PairedImageFolderDataset` or a generator
        trained on it.
    mask_channels : int
        M, the trailing channels that are masks; in [1, C + M - 1].

    Returns
    -------
    images : torch.Tensor
        ``[..., C, H, W]``, a view of the leading channels.
    masks : torch.Tensor
        bool ``[..., M, H, W]``, True where the mask channel is > 0 (above 0.5 once [-1, 1] is mapped to [0, 1]).
    """
    if batch.ndim not in (3, 4):
        raise ValueError(f"batch must have shape [N, C + M, H, W] or [C + M, H, W], got {tuple(batch.shape)}")
    channels = batch.shape[-3]
    if isinstance(mask_channels, bool) or not isinstance(mask_channels, int) or not 1 <= mask_channels < channels:
        raise ValueError(
            f"mask_channels must be an int in [1, {channels - 1}] for a batch of {channels} channels, "
            f"got {mask_channels!r}"
        )
    split = channels - mask_channels
    return batch[..., :split, :, :], batch[..., split:, :, :] > 0
