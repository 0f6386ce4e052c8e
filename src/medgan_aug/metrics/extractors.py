"""Feature extractors given as modules or timm model names, registered with torch-fidelity."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from ..nets.classifiers import load_classifier
from .weights import MetricsWeightsError, file_sha256

__all__ = [
    "MODULE_KWARG",
    "PIXELS",
    "TIMM_PREFIX",
    "ClassifierFeatures",
    "ModuleFeatureExtractor",
    "PixelFeatures",
    "TimmFeatures",
    "module_fingerprint",
    "register_module",
    "require_timm_weights",
    "timm_identity",
]

TIMM_PREFIX = "timm:"
"""Prefix of extractor names that denote a timm model."""
PIXELS = "pixels"
"""Extractor name of :class:`PixelFeatures`."""
_FEATURE = "features"
# The calculate_metrics keyword that carries the module to ModuleFeatureExtractor: torch-fidelity passes all its
# keyword arguments on to the extractor's constructor.
MODULE_KWARG = "medgan_aug_module"
"""Keyword argument of :func:`torch_fidelity.calculate_metrics` carrying the module."""


class ModuleFeatureExtractor(FeatureExtractorBase):
    """A torch-fidelity feature extractor running any module that maps images to ``[N, D]`` features.

    torch-fidelity hands it uint8 ``[N, 3, H, W]`` batches; the module receives them as float32 in [0, 1] at
    their own size (no resizing), so it must accept the images' size. Its output is the one feature layer
    ``"features"``, used for every metric (as class logits for the Inception Score).

    Parameters
    ----------
    name : str
        The name it is registered under.
    features_list : list of str
        ``["features"]``.
    medgan_aug_module : torch.nn.Module
        The module.
    **kwargs
        The other :func:`torch_fidelity.calculate_metrics` arguments, unused.
    """

    def __init__(self, name: str, features_list: list[str], medgan_aug_module: nn.Module, **kwargs: Any) -> None:
        super().__init__(name, features_list)
        self.module = medgan_aug_module

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        """The feature layers: only ``"features"``."""
        return (_FEATURE,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        """Every metric uses ``"features"``."""
        return _FEATURE

    @staticmethod
    def can_be_compiled() -> bool:
        """Arbitrary modules are not compiled."""
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        """A one-image uint8 batch (unused, as :meth:`can_be_compiled` is False)."""
        return torch.zeros(1, 3, 16, 16, dtype=torch.uint8)

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return ``(features [N, D] float32,)`` of a uint8 ``[N, 3, H, W]`` batch."""
        features = self.module(input.float() / 255)
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or features.shape[0] != input.shape[0]:
            shape = list(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise ValueError(
                f"the extractor module must map [N, 3, H, W] images to [N, D] features, but gave {shape} for a "
                f"batch of {input.shape[0]}"
            )
        return (features.float(),)


class TimmFeatures(nn.Module):
    """A timm model with its classifier removed, resizing and normalising [0, 1] images as the model expects.

    Images are resized to the model's ``pretrained_cfg["input_size"]`` (bicubic or bilinear as its config says,
    antialiased) and normalised with its mean and standard deviation; the output is the pooled feature vector.

    Parameters
    ----------
    model_name : str
        A timm model name, e.g. ``"resnet18"``.
    weights : str or os.PathLike
        A state dict saved with :func:`torch.save`, of ``timm.create_model(model_name, num_classes=0)`` (classifier
        weights, if present, are ignored). Nothing is downloaded.

    Raises
    ------
    ValueError
        If timm has no such model, or the state dict does not fit it.
    FileNotFoundError
        If ``weights`` does not exist.
    """

    def __init__(self, model_name: str, weights: str | os.PathLike[str]) -> None:
        super().__init__()
        import timm

        if not timm.is_model(model_name):
            raise ValueError(f"extractor 'timm:{model_name}': timm has no model named {model_name!r}")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist")
        model = timm.create_model(model_name, pretrained=False, num_classes=0)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"weights file {path}: cannot load a state dict: {error}") from error
        if not isinstance(state, dict):
            raise ValueError(f"weights file {path}: expected a state dict, got {type(state).__name__}")
        # A checkpoint of the full classifier carries head weights that a num_classes=0 model has no place for.
        head = model.pretrained_cfg.get("classifier") or ""
        heads = (head,) if isinstance(head, str) else tuple(head)
        state = {k: v for k, v in state.items() if not any(h and k.startswith(f"{h}.") for h in heads)}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"weights file {path} does not fit timm model {model_name!r}: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}"
            )
        config = model.pretrained_cfg
        self.model = model
        self.input_size = tuple(config["input_size"][1:])
        self.mode = "bicubic" if config.get("interpolation") == "bicubic" else "bilinear"
        self.register_buffer("mean", torch.tensor(config["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config["std"]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the ``[N, D]`` features of float ``[N, 3, H, W]`` images in [0, 1]."""
        if tuple(images.shape[2:]) != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode=self.mode, align_corners=False, antialias=True)
        return self.model((images - self.mean) / self.std)


class PixelFeatures(nn.Module):
    """The pixels themselves as features: ``[N, 3 H W]`` values in [0, 1].

    For small images (28 px digits, 64 px patches), where a network trained on photographs would describe little
    and nearest neighbours in pixel space are what a person compares: the copying audit's natural space there.
    The feature width grows with the image area, and FID's covariance with its square.
    """

    IDENTITY = "pixels-v1"
    """Names the extractor in cache keys (it has no weights)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return ``images`` (float ``[N, 3, H, W]`` in [0, 1]) flattened to ``[N, 3 H W]``."""
        return images.flatten(1)


class ClassifierFeatures(nn.Module):
    """The pre-logits features of a timm classifier trained on the medical images themselves: a domain extractor.

    Inception features describe natural photographs; a classifier trained on the real images (for example the
    ``classifier.pt`` that :meth:`~medgan_aug.selftrain.SelfTrainResult.save` writes) describes what separates the
    classes of this data, and needs no download. Images arrive as torch-fidelity gives them to a module extractor
    (float ``[N, 3, H, W]`` in [0, 1]) and are turned into the classifier's input: the channel mean for a
    one-channel classifier, mapped to [-1, 1], resized to its ``image_size`` (antialiased bilinear).

    Parameters
    ----------
    model : torch.nn.Module
        A timm classifier (it must have ``forward_features`` and ``forward_head``).
    in_chans : int
        Input channels the classifier was trained on, 1 or 3.
    image_size : int
        Side of the images the classifier was trained on.
    """

    def __init__(self, model: nn.Module, in_chans: int, image_size: int) -> None:
        super().__init__()
        if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
            raise TypeError(f"model must be a timm classifier (forward_features, forward_head), got {type(model)}")
        if in_chans not in (1, 3):
            raise ValueError(f"in_chans must be 1 or 3, got {in_chans!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
        self.model = model
        self.in_chans = in_chans
        self.image_size = image_size
        # Eval mode for good: BatchNorm on batch statistics would make every set look alike.
        self.eval()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ClassifierFeatures:
        """Load a ``classifier.pt`` written by :meth:`~medgan_aug.selftrain.SelfTrainResult.save`."""
        model, meta = load_classifier(path)
        return cls(model, int(meta["in_chans"]), int(meta["image_size"]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the ``[N, D]`` pre-logits features of float ``[N, 3, H, W]`` images in [0, 1]."""
        x = images.mean(dim=1, keepdim=True) if self.in_chans == 1 else images
        x = x * 2 - 1
        if tuple(x.shape[2:]) != (self.image_size, self.image_size):
            size = (self.image_size, self.image_size)
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)


def module_fingerprint(module: nn.Module) -> str:
    """Return a SHA-256 hex digest of a module's class, structure and state (parameters and buffers)."""
    digest = hashlib.sha256()
    digest.update(f"{type(module).__module__}.{type(module).__qualname__}\0{module!r}\0".encode())
    for key, value in module.state_dict().items():
        value = value.detach().cpu().contiguous()
        digest.update(f"{key}\0{value.dtype}\0{list(value.shape)}\0".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def register_module(identity: str) -> str:
    """Register :class:`ModuleFeatureExtractor` with torch-fidelity under a name derived from ``identity``.

    The name is stable for the same identity, so torch-fidelity's cache files (named after the extractor) are
    found again in later sessions.

    Parameters
    ----------
    identity : str
        A digest that changes whenever the module's output could.

    Returns
    -------
    str
        The registered name.
    """
    name = f"medgan-aug-{identity[:20]}"
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, ModuleFeatureExtractor)
    return name


def timm_identity(model_name: str, weights: str | os.PathLike[str]) -> str:
    """Return a digest naming a timm extractor: the model name and the weights file's content."""
    return hashlib.sha256(f"timm:{model_name}\0{file_sha256(weights)}".encode()).hexdigest()


def require_timm_weights(model_name: str, weights: str | os.PathLike[str] | None) -> str | os.PathLike[str]:
    """Return ``weights``, or raise :class:`MetricsWeightsError` for a timm extractor given none."""
    if weights is None:
        raise MetricsWeightsError(
            f"extractor 'timm:{model_name}' needs its pretrained weights as a local file: medgan-aug never "
            f"downloads them. Save timm.create_model({model_name!r}, pretrained=True, num_classes=0).state_dict() "
            f"with torch.save on a machine with internet access and pass it with weights=PATH (FIDScorer) or "
            f"--weights PATH (medgan-aug score)"
        )
    return weights
