"""Deprecated: generator sampling moved to :mod:`medgan_aug.generate`; these names go in medgan-aug 0.3."""

from .._deprecation import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "MAX_SEED": "medgan_aug.generate.latents",
        "SEED_REGISTRY": "medgan_aug.generate.seed_registry",
        "checkpoint_hash": "medgan_aug.generate.checkpoints",
        "class_indices": "medgan_aug.generate.latents",
        "generator_inputs": "medgan_aug.generate.latents",
        "load_generator": "medgan_aug.generate.checkpoints",
        "synthesize": "medgan_aug.generate.synthetic_sets",
    },
    removal="0.3",
)
