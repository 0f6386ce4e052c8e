"""Finding the pretrained weights of torch-fidelity's feature extractors without hanging on a missing network."""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.request
from pathlib import Path

import torch.hub

__all__ = [
    "MetricsWeightsError",
    "check_weights_available",
    "default_weights_location",
    "downloads_weights",
    "file_sha256",
    "missing_weights_message",
]

# How long a reachability probe of the download server may take before the weights count as not downloadable.
_PROBE_SECONDS = 10.0


class MetricsWeightsError(RuntimeError):
    """The pretrained weights of a feature extractor are neither given, nor cached, nor downloadable."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def downloads_weights(extractor: str) -> bool:
    """Whether ``extractor`` is one of torch-fidelity's own extractors, which download weights given none."""
    from torch_fidelity.feature_extractor_clip import FeatureExtractorCLIP
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    own = (FeatureExtractorInceptionV3, FeatureExtractorVGG16, FeatureExtractorCLIP, FeatureExtractorDinoV2)
    return FEATURE_EXTRACTORS_REGISTRY.get(extractor) in own


def default_weights_location(extractor: str) -> tuple[str, Path | None]:
    """Return where torch-fidelity downloads ``extractor``'s weights from, and the file it caches them in.

    Parameters
    ----------
    extractor : str
        A torch-fidelity feature extractor name.

    Returns
    -------
    (str, pathlib.Path or None)
        The download URL (or repository address) and the file in torch's hub cache that torch-fidelity loads
        without downloading when it exists; None where torch hub keeps a whole repository (DINOv2).
    """
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if extractor == "inception-v3-compat":
        from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

        return URL_INCEPTION_V3, checkpoints / os.path.basename(URL_INCEPTION_V3)
    if extractor == "vgg16":
        import torchvision

        url = torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
        return url, checkpoints / os.path.basename(url)
    if extractor.startswith("clip-"):
        from torch_fidelity.feature_extractor_clip import MODEL_METADATA, MODEL_URLS

        return MODEL_URLS[extractor], checkpoints / f"{extractor}-{MODEL_METADATA[extractor]['hash']}.pt"
    return "https://github.com/facebookresearch/dinov2", None


def _reachable(url: str) -> bool:
    """Whether ``url`` answers within ``_PROBE_SECONDS``, DNS lookup included (which a socket timeout misses)."""
    answered = threading.Event()

    def probe() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=_PROBE_SECONDS):
                answered.set()
        except Exception:
            # Any failure (no route, DNS, TLS, HTTP error) means the weights cannot be fetched from here.
            return

    thread = threading.Thread(target=probe, name="medgan-aug-weights-probe", daemon=True)
    thread.start()
    thread.join(_PROBE_SECONDS)
    return answered.is_set()


def check_weights_available(extractor: str) -> None:
    """Raise :class:`MetricsWeightsError` unless torch-fidelity can get ``extractor``'s default weights.

    The weights are available when torch's hub cache holds them, or when their download server answers.

    Parameters
    ----------
    extractor : str
        A torch-fidelity built-in feature extractor name (``"inception-v3-compat"``, ``"vgg16"``, ``"clip-*"``,
        ``"dinov2-*"``).

    Raises
    ------
    MetricsWeightsError
        If the weights are not cached and the download server cannot be reached.
    """
    url, cached = default_weights_location(extractor)
    if cached is not None and cached.is_file():
        return
    if _reachable(url):
        return
    raise MetricsWeightsError(missing_weights_message(extractor))


def missing_weights_message(extractor: str) -> str:
    """The explanation of a :class:`MetricsWeightsError` for ``extractor``'s weights."""
    url, cached = default_weights_location(extractor)
    looked = f"torch's hub cache {cached if cached is not None else torch.hub.get_dir()}"
    return (
        f"the pretrained weights of feature extractor {extractor!r} are missing: not found in {looked} "
        f"(set TORCH_HOME to move it) and {url} cannot be downloaded (no network?). Download that file on a "
        f"machine with internet access and pass it with weights=PATH (FIDScorer) or --weights PATH "
        f"(medgan-aug score), or copy it to {looked.rsplit(' ', 1)[-1]}"
    )
