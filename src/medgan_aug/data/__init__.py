"""Training data: image decoding, square resizing and the image-folder dataset.

:class:`ImageFolderDataset` serves a folder of PNG (8- or 16-bit) and JPEG images as square
``[C, R, R]`` tensors in [-1, 1] with optional class labels, the input of the GAN trainer.
:func:`load_image` and :func:`resize_square` are the decoding and resizing steps it applies.
:func:`prepare_images` builds such a folder from PNG, JPEG and DICOM files, windowing intensities with
:class:`IntensityWindow` and writing all or nothing with :class:`DatasetWriter`.
:class:`Volume` holds a 3-D scalar image with its geometry; :func:`read_volume` reads one from NRRD
(:func:`read_nrrd`) or a DICOM series directory (:func:`read_dicom_series`), :func:`write_nrrd` writes it.
:class:`VolumeSlicer` cuts labelled 2-D planes (named views, oblique tilts, tiles) out of volumes, laid out in
physical space by :func:`plane_stack`; axial, coronal and sagittal are found in the patient frame by
:func:`anatomical_view_axes`.
:func:`mix_datasets` indexes real and synthetic images at a chosen ratio. Sampling trained generators
(``load_generator``, ``synthesize``, ``checkpoint_hash``) moved to :mod:`medgan_aug.generate`; the old
``medgan_aug.data`` names keep working, with a DeprecationWarning, until medgan-aug 0.3.
:class:`PairedImageFolderDataset` serves images with their binary label masks as extra channels (from an image
folder beside mask folders, as ``DatasetWriter(masks=True)`` writes them), and :func:`split_masks` separates them.
"""

from .._deprecation import moved_names
from .conventions import class_index, one_hot, signed_to_unit, unit_to_signed
from .dataset_writer import SPLITS, DatasetWriter, mask_folder, paired_images_folder, read_manifest, split_by_patient
from .image_folder import LABEL_SOURCES, ImageFolderDataset, LabelSource
from .images import IMAGE_EXTENSIONS, RESIZE_MODES, ResizeMode, image_channels, load_image, resize_square
from .intensity import IntensityWindow, encode_pixels
from .mixing import MixReport, mix_datasets, read_index
from .paired import PairedImageFolderDataset, split_masks
from .planes import (
    ANATOMICAL_VIEWS,
    DEFAULT_VIEWS,
    MAX_OBLIQUITY_DEGREES,
    PATIENT_SPACES,
    TILT_AXES,
    AnatomicalView,
    PlaneStack,
    TiltAxis,
    ViewAxes,
    anatomical_view_axes,
    orientation_code,
    parse_angles,
    plane_stack,
)
from .prepare import prepare_images, read_image_raw
from .tiling import PAD_MODES, PadMode, Tile, tile_grid, tile_image
from .volume import Volume, read_dicom_series, read_nrrd, read_volume, write_nrrd
from .volume_slicer import INTERPOLATION_ORDERS, ORIENTATIONS, Orientation, PlaneDataset, SlicedPlane, VolumeSlicer

__all__ = [
    "ANATOMICAL_VIEWS",
    "DEFAULT_VIEWS",
    "IMAGE_EXTENSIONS",
    "INTERPOLATION_ORDERS",
    "LABEL_SOURCES",
    "MAX_OBLIQUITY_DEGREES",
    "ORIENTATIONS",
    "PAD_MODES",
    "PATIENT_SPACES",
    "RESIZE_MODES",
    "SPLITS",
    "TILT_AXES",
    "AnatomicalView",
    "DatasetWriter",
    "ImageFolderDataset",
    "IntensityWindow",
    "LabelSource",
    "MixReport",
    "Orientation",
    "PadMode",
    "PairedImageFolderDataset",
    "PlaneDataset",
    "PlaneStack",
    "ResizeMode",
    "SlicedPlane",
    "Tile",
    "TiltAxis",
    "ViewAxes",
    "Volume",
    "VolumeSlicer",
    "anatomical_view_axes",
    "class_index",
    "encode_pixels",
    "image_channels",
    "load_image",
    "mask_folder",
    "mix_datasets",
    "one_hot",
    "orientation_code",
    "paired_images_folder",
    "parse_angles",
    "plane_stack",
    "prepare_images",
    "read_dicom_series",
    "read_image_raw",
    "read_index",
    "read_manifest",
    "read_nrrd",
    "read_volume",
    "resize_square",
    "signed_to_unit",
    "split_by_patient",
    "split_masks",
    "tile_grid",
    "tile_image",
    "unit_to_signed",
    "write_nrrd",
]

__getattr__ = moved_names(
    __name__,
    {name: "medgan_aug.generate" for name in ("checkpoint_hash", "load_generator", "synthesize")},
    removal="0.3",
)
