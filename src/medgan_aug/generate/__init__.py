"""Sampling trained generators: loading, latent and label conventions, the seed registry, synthetic folders.

:func:`load_generator` reads a generator from any checkpoint the library reads (a network checkpoint, a
``training-*.pt`` or a StyleGAN2-ADA ``.pkl``) without running code from the file, and :func:`checkpoint_hash`
names the file by its bytes. :func:`generator_inputs` turns seeds and class indices into latents and one-hot
labels by StyleGAN2-ADA's convention (:func:`class_indices` spreads images over classes). :func:`synthesize`
writes the images of any :class:`~medgan_aug.nets.GeneratorLike` into a dataset folder with a manifest, keeping
the seeds of sibling folders apart in a registry file (:data:`SEED_REGISTRY`); an :class:`ImageScreen` (such as
:class:`~medgan_aug.metrics.CopyScreen`, which drops likely copies of training images) can decide which images
it keeps.
"""

from .checkpoints import checkpoint_hash, load_generator
from .latents import MAX_SEED, class_indices, generator_inputs
from .screening import ImageScreen, Screening
from .seed_registry import SEED_REGISTRY
from .synthetic_sets import synthesize

__all__ = [
    "MAX_SEED",
    "SEED_REGISTRY",
    "ImageScreen",
    "Screening",
    "checkpoint_hash",
    "class_indices",
    "generator_inputs",
    "load_generator",
    "synthesize",
]
