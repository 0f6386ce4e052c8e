"""Training data: image decoding, square resizing and the image-folder dataset.

:class:`ImageFolderDataset` serves a folder of PNG (8- or 16-bit) and JPEG images as square
``[C, R, R]`` tensors in [-1, 1] with optional class labels, the input of the GAN trainer.
:func:`load_image` and :func:`resize_square` are the decoding and resizing steps it applies.
"""

from .image_folder import LABEL_SOURCES, ImageFolderDataset, LabelSource
from .images import IMAGE_EXTENSIONS, RESIZE_MODES, ResizeMode, image_channels, load_image, resize_square

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABEL_SOURCES",
    "RESIZE_MODES",
    "ImageFolderDataset",
    "LabelSource",
    "ResizeMode",
    "image_channels",
    "load_image",
    "resize_square",
]
