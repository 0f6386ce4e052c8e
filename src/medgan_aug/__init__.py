"""medgan-aug: GAN-based data augmentation for medical images."""

__version__ = "0.1.0.dev0"
