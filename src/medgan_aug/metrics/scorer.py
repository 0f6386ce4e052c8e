"""FID with its bootstrap interval and real-vs-real floor, KID, Inception Score, precision/recall and the
data-copying audit of generated images, from features torch-fidelity extracts."""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import Subset
from torch_fidelity.metric_fid import (
    KEY_METRIC_FID,
    fid_features_to_statistics,
    fid_featuresdict_to_statistics_cached,
    fid_statistics_to_metric,
)
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import (
    KEY_METRIC_F_SCORE,
    KEY_METRIC_PRECISION,
    KEY_METRIC_RECALL,
    prc_features_to_metric,
)
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.utils import (
    create_feature_extractor,
    extract_featuresdict_from_input_id_cached,
    resolve_feature_layer_for_metric,
)

from .._validation import check_int
from ..data.image_folder import ImageFolderDataset
from ..generate.latents import MAX_SEED, class_indices, generator_inputs
from ..nets.generator_like import (
    GeneratorLike,
    check_sampling,
    generate_images,
    generator_device,
    generator_image_channels,
)
from .copying import CopyingAudit, audit_copying, check_threshold
from .extractors import (
    MODULE_KWARG,
    PIXELS,
    TIMM_PREFIX,
    PixelFeatures,
    TimmFeatures,
    module_fingerprint,
    register_module,
    require_timm_weights,
    timm_identity,
)
from .frechet import fid_uncertainty
from .image_sets import ImageSet, ImageSetSource, check_value_range, float_to_uint8
from .weights import (
    MetricsWeightsError,
    check_weights_available,
    downloads_weights,
    file_sha256,
    missing_weights_message,
)

__all__ = ["METRICS", "FIDScorer"]

METRICS: tuple[str, ...] = ("fid", "kid", "isc", "prc", "copying")
"""The metrics :class:`FIDScorer` computes: Fréchet and kernel distances, Inception Score, precision/recall, and
the data-copying audit (:mod:`~medgan_aug.metrics.copying`, which needs held-out real images)."""

_ALIASES = {"pr": "prc", "is": "isc"}
_KEYS = {
    KEY_METRIC_KID_MEAN: "kid_mean",
    KEY_METRIC_KID_STD: "kid_std",
    KEY_METRIC_ISC_MEAN: "isc_mean",
    KEY_METRIC_ISC_STD: "isc_std",
    KEY_METRIC_PRECISION: "precision",
    KEY_METRIC_RECALL: "recall",
    KEY_METRIC_F_SCORE: "f_score",
}
_ISC_SPLITS = 10
# Below this many images per set FID's upward bias is large next to its differences between generators (Chong &
# Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them").
_FID_SMALL_SET = 2000
_MIN_BOOTSTRAP = 100
# Part of every cache key, so that a change of how images become extractor input invalidates old entries.
_PREPARATION_VERSION = "uint8-rgb-1"


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    names = tuple(_ALIASES.get(m.strip().lower(), m.strip().lower()) for m in metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"metrics must be a non-empty selection of {METRICS} ('pr' means 'prc'), got {metrics!r}")
    return tuple(m for m in METRICS if m in names)


def _bootstrap_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or (value != 0 and value < _MIN_BOOTSTRAP):
        raise ValueError(
            f"fid_bootstrap must be 0 (no interval) or an integer >= {_MIN_BOOTSTRAP} (bootstrap resamples), "
            f"got {value!r}"
        )
    return int(value)


@dataclass(frozen=True)
class _Settings:
    """What the metrics are computed with, the features apart."""

    metrics: tuple[str, ...]
    kid_subsets: int
    kid_subset_size: int
    prc_neighborhood: int
    fid_bootstrap: int
    fid_floor: bool
    seed: int
    progress: bool = False
    copying_cells: int | None = None
    copying_min_cell_size: int = 20
    copying_threshold: float = 0.5


def _needs(metric: str, prc_neighborhood: int) -> int:
    """The fewest images a set needs for ``metric``."""
    return prc_neighborhood + 1 if metric == "prc" else 2


def _layer_metric(metric: str) -> str:
    """The metric whose feature layer ``metric`` uses: the copying audit works in FID's feature space."""
    return "fid" if metric == "copying" else metric


def _check_test(metrics: Sequence[str], test: object) -> None:
    if "copying" in metrics and test is None:
        raise ValueError(
            "metric 'copying' needs test=, held-out real images of the same distribution that the generator never "
            "saw (the real set is taken as its training images)"
        )
    if "copying" not in metrics and test is not None:
        raise ValueError("test= (held-out real images) is used by metric 'copying' only; add it to the metrics")


def _check_counts(settings: _Settings, n_real: int, n_fake: int, stacklevel: int = 3) -> tuple[int, int]:
    """Check both sets are large enough; return the KID subset size and the number of IS splits to use.

    Warns when KID's subsets or the IS splits must shrink, when FID with an interval or floor comes from small
    sets, and when the real set is too small for the floor; ``stacklevel`` as for :func:`warnings.warn`, from here.
    """
    metrics, prc_neighborhood = settings.metrics, settings.prc_neighborhood
    for metric in metrics:
        for name, count in (("fake", n_fake), ("real", n_real)):
            if metric == "isc" and name == "real":
                continue
            if count < _needs(metric, prc_neighborhood):
                raise ValueError(
                    f"the {name} set has {count} images, but {metric} needs at least "
                    f"{_needs(metric, prc_neighborhood)}" + (" (prc_neighborhood + 1)" if metric == "prc" else "")
                )
    kid_subset_size = settings.kid_subset_size
    if "kid" in metrics and kid_subset_size > min(n_real, n_fake):
        warnings.warn(
            f"kid_subset_size {kid_subset_size} exceeds the set sizes (real {n_real}, fake {n_fake}); "
            f"using {min(n_real, n_fake)}",
            stacklevel=stacklevel,
        )
        kid_subset_size = min(n_real, n_fake)
    isc_splits = _ISC_SPLITS
    if "isc" in metrics and n_fake < _ISC_SPLITS:
        warnings.warn(
            f"the fake set has {n_fake} images, fewer than {_ISC_SPLITS} Inception Score splits; using {n_fake}",
            stacklevel=stacklevel,
        )
        isc_splits = n_fake
    floor_images = min(n_fake, n_real // 2)
    if "fid" in metrics and settings.fid_floor and floor_images < 2:
        warnings.warn(
            f"the real set has {n_real} images: the real-vs-real FID floor needs two halves of at least 2 images "
            "(4 real images); scoring without it",
            stacklevel=stacklevel,
        )
    # A scorer without interval and floor compares FIDs at one fixed size (training-time tracking): no warning.
    if "fid" in metrics and (settings.fid_bootstrap or settings.fid_floor) and min(n_real, n_fake) < _FID_SMALL_SET:
        floor = (
            f"; at {floor_images} images per side, fid_matched (generated against real) reads against "
            "fid_real_floor (two halves of the real set)"
            if settings.fid_floor and floor_images >= 2
            else ""
        )
        warnings.warn(
            f"FID from {n_fake} generated and {n_real} real images: below {_FID_SMALL_SET:,} images per set FID is "
            f"biased upwards, the more the fewer the images, so compare it only with FIDs at the same set sizes{floor}",
            stacklevel=stacklevel,
        )
    return kid_subset_size, isc_splits


def _features(values: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    tensor = values.detach().cpu() if isinstance(values, torch.Tensor) else torch.from_numpy(np.asarray(values))
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be a 2-D array [N, D], got shape {list(tensor.shape)}")
    if tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.double()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} has non-finite values")
    return tensor.contiguous()


def _image_channels(G: Any) -> int:
    return generator_image_channels(G, "the metrics need 1 or 3 channels")


def _rename(results: dict[str, Any]) -> dict[str, float]:
    return {_KEYS[key]: float(value) for key, value in results.items() if key in _KEYS}


def _compute(
    settings: _Settings,
    fake: dict[str, torch.Tensor],
    real: dict[str, torch.Tensor],
    counts: tuple[int, int, int, int],
    real_fid_stats: dict[str, np.ndarray] | None = None,
    test: torch.Tensor | None = None,
    stacklevel: int = 3,
) -> tuple[dict[str, float], CopyingAudit | None]:
    """Compute the metrics from features with torch-fidelity's functions, FID's interval and floor, and the audit.

    ``fake`` and ``real`` map each metric to the features it uses (the fake set's logits for ``"isc"``);
    ``counts`` is ``(n_real, n_fake, kid_subset_size, isc_splits)``; ``real_fid_stats`` the real set's FID
    statistics when cached; ``test`` the held-out set's features for ``"copying"``; ``stacklevel`` of its warning,
    from here.
    """
    n_real, n_fake, kid_subset_size, isc_splits = counts
    results: dict[str, float] = {}
    if "fid" in settings.metrics:
        real_stats = fid_features_to_statistics(real["fid"]) if real_fid_stats is None else real_fid_stats
        point = float(
            fid_statistics_to_metric(fid_features_to_statistics(fake["fid"]), real_stats, False)[KEY_METRIC_FID]
        )
        results["fid"] = point
        results.update(
            fid_uncertainty(
                fake["fid"].double().numpy(),
                real["fid"].double().numpy(),
                point,
                resamples=settings.fid_bootstrap,
                floor=settings.fid_floor,
                seed=settings.seed,
                progress=settings.progress,
            )
        )
    if "kid" in settings.metrics:
        kid = kid_features_to_metric(
            fake["kid"],
            real["kid"],
            kid_subsets=settings.kid_subsets,
            kid_subset_size=kid_subset_size,
            rng_seed=settings.seed,
            verbose=False,
        )
        results.update(_rename(kid))
    if "isc" in settings.metrics:
        results.update(_rename(isc_features_to_metric(fake["isc"], isc_splits, True, settings.seed)))
    if "prc" in settings.metrics:
        prc = prc_features_to_metric(
            fake["prc"], real["prc"], prc_neighborhood=settings.prc_neighborhood, save_cpu_ram=True, verbose=False
        )
        results.update(_rename(prc))
    audit = None
    if "copying" in settings.metrics:
        audit = _copying(settings, real["copying"], fake["copying"], test, stacklevel + 1)
        results.update(audit.summary())
    results.update(n_real=float(n_real), n_fake=float(n_fake))
    return results, audit


def _copying(
    settings: _Settings, train: torch.Tensor, fake: torch.Tensor, test: torch.Tensor | None, stacklevel: int
) -> CopyingAudit:
    """The audit, with a warning (``stacklevel`` from here) listing the cells left out of ``Z_U``."""
    if test is None:
        raise ValueError("metric 'copying' needs the held-out set's features")
    audit = audit_copying(
        train,
        fake,
        test,
        cells=settings.copying_cells,
        min_cell_size=settings.copying_min_cell_size,
        threshold=settings.copying_threshold,
        seed=settings.seed,
    )
    skipped = audit.describe_skipped()
    if skipped is not None:
        warnings.warn(f"data-copying test: {skipped}", UserWarning, stacklevel=stacklevel)
    return audit


class FIDScorer:
    """FID with its uncertainty, KID, Inception Score and precision/recall of generated images against real ones.

    Both sets go through one feature extractor, via torch-fidelity, once; every metric is then computed from the
    features with torch-fidelity's own functions: FID on the features' mean and covariance, KID as the unbiased
    polynomial-kernel MMD averaged over random subsets (its mean and standard deviation over the subsets), the
    Inception Score from the fake set's class logits, precision/recall of Kynkäänniemi et al. with k-NN balls.
    Every metric uses the same extractor and layer (with Inception: the 2048-d pool features, and the logits for
    the Inception Score).

    FID comes with the spread of its value at these set sizes and a floor to read it against:

    - A bootstrap: ``fid_bootstrap`` times, the fake rows and the real rows of the features are each resampled with
      replacement, independently, and FID recomputed (in float64, through Gram matrices, see
      :class:`~medgan_aug.metrics.frechet.FrechetResampler`). ``fid_std`` is the replicates' standard deviation;
      ``fid_ci_low`` and ``fid_ci_high`` their 2.5th and 97.5th percentiles shifted down by the bootstrap bias
      (the replicates' mean minus ``fid``; resampled sets repeat images, which raises FID), i.e. the percentile
      interval re-centred on ``fid``, the lower end clipped at 0. It is a 95 % interval for the FID expected from
      sets of these sizes drawn from the same two distributions, the quantity two scores at equal sizes compare.
    - The real-vs-real floor: FID between two disjoint random halves A and B of the real set, each of
      ``m = min(n_fake, n_real // 2)`` images, averaged over 5 random splits (``fid_real_floor``, with the spread
      over the splits ``fid_real_floor_std`` and ``fid_floor_images`` = m): what a generator indistinguishable
      from the real data would score at this size. FID's bias depends on the set sizes, so ``fid_matched``
      (with ``fid_matched_std``) is the FID of ``m`` random generated images against the same halves B: the
      synthetic set's score to hold against the floor, like for like. It needs 4 real images; with fewer the
      floor is left out, with a warning.

    The data-copying audit (``"copying"``; :mod:`~medgan_aug.metrics.copying`) takes the real set as the
    generator's training images and needs held-out real images (``test=``): it reports the test statistic
    ``copying_zu`` (well below 0: generated images sit closer to the training images than new real images do),
    the fraction of generated images flagged as likely copies ``copying_flagged_fraction`` and, for the same rule
    on the held-out images, ``copying_test_flagged_fraction``, in the extractor's feature space (FID's layer);
    :meth:`copying_audit` returns the whole :class:`~medgan_aug.metrics.copying.CopyingAudit`.

    FID falls as sets grow (its bias is about proportional to 1/n): with FID asked and an interval or floor on,
    sets under 2,000 images draw a :class:`UserWarning` naming both sizes. The bootstrap and floor use seed 0, as
    KID's subsets do: results are reproducible.

    Images reach the extractor as uint8 RGB: grayscale is repeated into three channels, folders are decoded from
    their files, uint8 tensors are taken as they are, and float tensors and float images yielded by datasets are
    read in ``value_range``. Float pixels that look as if they were in another range (all >= 0 read as (-1, 1),
    below -0.1 or above 1.5 read as (0, 1), all <= 1 read as (0, 255); checked over the whole set as it is read)
    draw a :class:`UserWarning` naming ``value_range``.

    Parameters
    ----------
    metrics : sequence of str
        Any of :data:`METRICS` (``"pr"`` means ``"prc"``), or one comma-separated string.
    extractor : str or torch.nn.Module
        A torch-fidelity feature extractor name (``"inception-v3-compat"``, the standard FID network, resizing
        to 299x299 itself; ``"vgg16"``; ...), ``"timm:<model>"`` for a timm model whose pretrained weights are
        read from ``weights`` only (see :class:`~medgan_aug.metrics.extractors.TimmFeatures`), or a module
        mapping float32 ``[N, 3, H, W]`` images in [0, 1], at the images' own size, to ``[N, D]`` features
        (its output serves as class logits for the Inception Score), or ``"pixels"``: the pixels themselves
        (:class:`~medgan_aug.metrics.extractors.PixelFeatures`, for small images, e.g. the copying audit of 28 px
        digits). A module is put in eval mode on ``device`` while scoring; its training flag and
        ``requires_grad`` are restored afterwards.
    weights : str or os.PathLike, optional
        Weights file of the extractor (torch-fidelity's ``feature_extractor_weights_path``; the state dict for a
        timm model). Without it, torch-fidelity's extractors load their weights from torch's hub cache
        (``$TORCH_HOME/hub/checkpoints``) or download them there; if neither works,
        :class:`~medgan_aug.metrics.MetricsWeightsError` is raised.
    batch_size : int
        Images per extractor batch.
    device : str or torch.device, optional
        ``"cpu"`` or a CUDA device; default CUDA when available.
    kid_subsets : int
        Number of random subsets KID averages over.
    kid_subset_size : int
        Images per KID subset; clamped, with a warning, to the smaller set's size.
    prc_neighborhood : int
        k of the k-nearest-neighbour balls of precision/recall.
    cache_dir : str or os.PathLike, optional
        Folder for torch-fidelity's cache of the real set's features and FID statistics, keyed by a hash of
        the real set's content (file bytes of a folder, bytes of a tensor, yielded images of a dataset), the
        extractor (name and weights file, or a module's class and state) and the image preparation. None: no
        caching.
    progress : bool
        Let torch-fidelity print progress to stderr, and show a progress bar over FID's bootstrap resamples.
    value_range : pair of numbers
        The range float pixels are read in: ``(-1, 1)`` (a generator's output, the default), ``(0, 1)``
        (torchvision's convention) or ``(0, 255)`` (8-bit levels held as floats); its ends become 0 and 255,
        values outside are clipped. Images :meth:`score_generator` makes and :meth:`score_per_class`'s dataset
        are [-1, 1] whatever it is.
    fid_bootstrap : int
        Bootstrap resamples of FID's interval: 0 for none, else at least 100. With 2048 features on 2 CPU cores,
        200 take about 1.5 s at 500 images per set, 30 s at 2,000 and 4 min at 5,000, where a plain FID takes
        3 s (``benchmarks/metrics_bench.py``).
    fid_floor : bool
        Whether to compute the real-vs-real floor.
    copying_cells : int, optional
        k-means cells of the copying audit (default: about 50 held-out images a cell, 1 to 20).
    copying_min_cell_size : int
        Fewest generated images a cell needs to count in ``copying_zu``.
    copying_threshold : float
        Ratio below which a generated image is flagged as a likely copy, in (0, 1].

    Raises
    ------
    ValueError
        For an unknown metric or extractor, a bad number (``fid_bootstrap`` from 1 to 99 among them), an unknown
        ``value_range``, ``weights`` with a module extractor, or ``"isc"`` with a timm or pixel extractor (which
        give features, not class logits).
    FileNotFoundError
        If ``weights`` does not exist.
    MetricsWeightsError
        For a timm extractor without ``weights``.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("fid", "kid"),
        *,
        extractor: str | nn.Module = "inception-v3-compat",
        weights: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        prc_neighborhood: int = 3,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        value_range: tuple[float, float] = (-1, 1),
        fid_bootstrap: int = 200,
        fid_floor: bool = True,
        copying_cells: int | None = None,
        copying_min_cell_size: int = 20,
        copying_threshold: float = 0.5,
    ) -> None:
        self.metrics = _check_metrics(metrics)
        self.copying_cells = None if copying_cells is None else check_int(copying_cells, "copying_cells", 1)
        self.copying_min_cell_size = check_int(copying_min_cell_size, "copying_min_cell_size", 1)
        self.copying_threshold = check_threshold(copying_threshold, "copying_threshold")
        self.value_range = check_value_range(value_range)
        self.fid_bootstrap = _bootstrap_count(fid_bootstrap)
        self.fid_floor = bool(fid_floor)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.kid_subsets = check_int(kid_subsets, "kid_subsets", 1)
        self.kid_subset_size = check_int(kid_subset_size, "kid_subset_size", 2)
        self.prc_neighborhood = check_int(prc_neighborhood, "prc_neighborhood", 1)
        self.device = self._resolve_device(device)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.progress = bool(progress)
        self.weights = None if weights is None else Path(weights)
        if self.weights is not None and not self.weights.is_file():
            raise FileNotFoundError(f"weights file {self.weights} does not exist")

        self._module: nn.Module | None = None
        self._identity: str | None = None
        # (extractor, torch-fidelity arguments, layer) of features(), built on its first call.
        self._feature_extractor: tuple[Any, dict[str, Any], str] | None = None
        if isinstance(extractor, nn.Module):
            if self.weights is not None:
                raise ValueError("weights applies to named extractors; load the weights into the module instead")
            self._module = extractor
            self.extractor_name = f"{type(extractor).__name__} module"
        elif extractor == PIXELS:
            if self.weights is not None:
                raise ValueError("weights applies to network extractors; the 'pixels' extractor has none")
            if "isc" in self.metrics:
                raise ValueError("metric 'isc' needs class logits, but extractor 'pixels' gives the pixels")
            self._module = PixelFeatures()
            self._identity = PixelFeatures.IDENTITY
            self.extractor_name = PIXELS
        elif isinstance(extractor, str) and extractor.startswith(TIMM_PREFIX):
            model_name = extractor[len(TIMM_PREFIX) :]
            if "isc" in self.metrics:
                raise ValueError(f"metric 'isc' needs class logits, but extractor {extractor!r} gives pooled features")
            weights_path = require_timm_weights(model_name, self.weights)
            self._module = TimmFeatures(model_name, weights_path)
            self._identity = timm_identity(model_name, weights_path)
            self.extractor_name = extractor
        elif isinstance(extractor, str):
            if extractor not in FEATURE_EXTRACTORS_REGISTRY:
                raise ValueError(
                    f"extractor {extractor!r} is not a torch-fidelity feature extractor "
                    f"({', '.join(FEATURE_EXTRACTORS_REGISTRY)}), nor 'timm:<model name>', nor an nn.Module"
                )
            self.extractor_name = extractor
            weights_id = "default" if self.weights is None else file_sha256(self.weights)
            self._identity = hashlib.sha256(f"{extractor}\0{weights_id}".encode()).hexdigest()
        else:
            raise ValueError(f"extractor must be a name or an nn.Module, got {type(extractor).__name__}")

    @staticmethod
    def _resolve_device(device: str | torch.device | None) -> torch.device:
        if device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            resolved = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device: {error}") from error
        if resolved.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or a CUDA device, got {device!r}")
        return resolved

    def _settings(self) -> _Settings:
        return _Settings(
            self.metrics,
            self.kid_subsets,
            self.kid_subset_size,
            self.prc_neighborhood,
            self.fid_bootstrap,
            self.fid_floor,
            seed=0,
            progress=self.progress,
            copying_cells=self.copying_cells,
            copying_min_cell_size=self.copying_min_cell_size,
            copying_threshold=self.copying_threshold,
        )

    def score(
        self, real: ImageSetSource, fake: ImageSetSource, *, test: ImageSetSource | None = None
    ) -> dict[str, float]:
        """Compute the metrics of ``fake`` images against ``real`` ones.

        Parameters
        ----------
        real, fake : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
            A folder searched recursively for PNG/JPEG images (8- or 16-bit, reduced to 8 bits); a tensor
            ``[N, C, H, W]`` with C 1 or 3, uint8 or float in ``value_range`` (values outside are clipped), or a
            ``.pt`` (:func:`torch.save`) or ``.npy`` file holding one; or a dataset yielding such ``[C, H, W]``
            images or ``(image, label, ...)`` tuples, like :class:`~medgan_aug.ImageFolderDataset` (whose [-1, 1]
            images need the default ``value_range``). All images of a set must share one size. For
            ``"copying"``, ``real`` must be the generator's training images.
        test : same kinds, optional
            Held-out real images the generator never saw, for ``"copying"`` (required by it, refused without it).

        Returns
        -------
        dict of str to float
            For the metrics asked: ``"fid"``, with ``fid_bootstrap`` ``"fid_std"``, ``"fid_ci_low"``,
            ``"fid_ci_high"``, with ``fid_floor`` ``"fid_real_floor"``, ``"fid_real_floor_std"``,
            ``"fid_matched"``, ``"fid_matched_std"``, ``"fid_floor_images"``; ``"kid_mean"``, ``"kid_std"``;
            ``"isc_mean"``, ``"isc_std"`` (of the fake set); ``"precision"``, ``"recall"``, ``"f_score"``;
            :data:`~medgan_aug.metrics.copying.COPYING_KEYS` for ``"copying"``; and always the set sizes
            ``"n_real"``, ``"n_fake"``. See the class description for their meaning.

        Raises
        ------
        ValueError
            If a set is too small for a metric (fewer than 2 images; precision/recall needs more than
            ``prc_neighborhood``), a folder holds no images, or an image is malformed.
        FileNotFoundError
            If a folder does not exist.
        MetricsWeightsError
            If the extractor's pretrained weights are not given, not cached and cannot be downloaded.
        """
        _check_test(self.metrics, test)
        real_set = ImageSet(real, "real", self.value_range)
        fake_set = ImageSet(fake, "fake", self.value_range)
        test_set = None if test is None else ImageSet(test, "test", self.value_range)
        kid_subset_size, isc_splits = _check_counts(self._settings(), len(real_set), len(fake_set))
        return self._run(real_set, fake_set, kid_subset_size, isc_splits, test_set=test_set)[0]

    def score_with_audit(
        self, train: ImageSetSource, fake: ImageSetSource, test: ImageSetSource
    ) -> tuple[dict[str, float], CopyingAudit]:
        """:meth:`score` with ``"copying"`` among the metrics, and the whole audit, from one feature extraction.

        Parameters
        ----------
        train, fake, test : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
            The generator's training images, the generated images and held-out real images, as for :meth:`score`.

        Returns
        -------
        (dict of str to float, CopyingAudit)
            What :meth:`score` returns, and what :meth:`copying_audit` returns.
        """
        if "copying" not in self.metrics:
            raise ValueError("score_with_audit needs 'copying' among the scorer's metrics")
        real_set = ImageSet(train, "real", self.value_range)
        fake_set = ImageSet(fake, "fake", self.value_range)
        kid_subset_size, isc_splits = _check_counts(self._settings(), len(real_set), len(fake_set))
        test_set = ImageSet(test, "test", self.value_range)
        results, audit = self._run(real_set, fake_set, kid_subset_size, isc_splits, test_set=test_set)
        assert audit is not None  # "copying" is among the metrics
        return results, audit

    def copying_audit(self, train: ImageSetSource, fake: ImageSetSource, test: ImageSetSource) -> CopyingAudit:
        """The data-copying audit of ``fake`` images in the extractor's feature space, with every image's numbers.

        Parameters
        ----------
        train, fake, test : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
            The generator's training images, the generated images and held-out real images it never saw, as
            for :meth:`score`.

        Returns
        -------
        CopyingAudit
            ``Z_U``, its cells, and per generated image its nearest training image, distance, ratio and flag
            (indices in the order the sets are read: a folder's images sorted by relative path).
        """
        sets = [ImageSet(source, name, self.value_range) for source, name in ((train, "train"), (fake, "fake"))]
        test_set = ImageSet(test, "test", self.value_range)
        for image_set in (*sets, test_set):
            if len(image_set) < 2:
                raise ValueError(f"the {image_set.name} set has {len(image_set)} image(s); the audit needs at least 2")
        real, generated, held_out, _ = self._extract(*sets, ("copying",), test_set, stacklevel=3)
        return _copying(self._settings(), real["copying"], generated["copying"], held_out, stacklevel=3)

    def score_generator(
        self,
        G: GeneratorLike,
        real: ImageSetSource,
        n: int,
        *,
        classes: int | Sequence[int] | None = None,
        truncation_psi: float = 1.0,
        noise_mode: Literal["const", "random", "none"] | None = None,
        seed: int = 0,
        batch_size: int | None = None,
        test: ImageSetSource | None = None,
    ) -> dict[str, float]:
        """Compute the metrics of ``n`` images generated by ``G`` against ``real`` ones, writing no files.

        Image ``i`` comes from seed ``seed + i`` with the latent convention of
        :func:`~medgan_aug.generate.synthesize` (``z = RandomState(seed + i).randn(1, z_dim)``), so the fake set
        is the one ``synthesize(G, n, ..., seeds=range(seed, seed + n))`` writes with the same classes, kept in
        memory: ``G``'s output in [-1, 1] is rounded to 8 bits exactly as :meth:`score` reads a float tensor
        with the default ``value_range``, batch by batch (a quarter of a float tensor's memory), and the results
        equal :meth:`score` on the generated float tensor then. The generated images are read as [-1, 1]
        whatever ``value_range`` is; it applies to ``real``. ``G`` runs under :func:`torch.no_grad` on the device
        of its first parameter or buffer, in its current mode; put it on the scorer's device for speed.

        A generator that also makes segmentation masks (``G.mask_channels`` > 0) is scored on its images alone
        (its first ``G.img_channels - G.mask_channels`` channels). The real set must be images too; a paired
        folder (``images/`` beside ``masks/``) or a dataset with a ``mask_channels`` attribute
        (:class:`~medgan_aug.data.PairedImageFolderDataset`) is reduced to its images (see :meth:`score`).

        Parameters
        ----------
        G : GeneratorLike
            The generator, e.g. from :func:`~medgan_aug.generate.load_generator`, or any object with ``z_dim``,
            ``c_dim``, ``img_resolution``, ``img_channels`` and ``G(z, c)`` (:class:`~medgan_aug.nets.GeneratorLike`).
        real : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
            The real images, as for :meth:`score`.
        n : int
            Number of generated images.
        classes : int or sequence of int, optional
            For a conditional generator: one class index for all images, or several among which the images are
            spread evenly in the order given (``n // len(classes)`` each, one more for each of the first
            ``n % len(classes)``), as :func:`~medgan_aug.generate.synthesize` does. None: an unconditional
            generator, or, for a conditional one, classes drawn uniformly at random by
            ``numpy.random.default_rng(seed).integers(c_dim, size=n)`` (a stream apart from the latents').
        truncation_psi : float
            Truncation; 1 for none, the only value generators other than this library's take.
        noise_mode : {"const", "random", "none"}, optional
            Per-pixel noise of this library's generators (default ``"const"``); ``"random"`` draws from torch's
            global generator, so scores then vary between runs. Other generators take only None.
        seed : int
            The first seed; seeds ``seed`` to ``seed + n - 1`` must lie in [0, 2**32 - 1].
        batch_size : int, optional
            Images per generator call; default the scorer's ``batch_size``. It can change pixels by one
            quantisation level (float rounding), as in :func:`~medgan_aug.generate.synthesize`.
        test : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset, optional
            Held-out real images for ``"copying"``, as for :meth:`score` (``real`` is then ``G``'s training set).

        Returns
        -------
        dict of str to float
            The same keys as :meth:`score`.

        Raises
        ------
        TypeError
            If ``G`` lacks an attribute of :class:`~medgan_aug.nets.GeneratorLike` or is not callable.
        ValueError
            For a bad ``n``, seed, psi, noise mode or batch size; psi or a noise mode for a generator that does
            not take them; an output of the wrong shape; classes for an unconditional generator, a
            class out of range; a generator making other than 1 or 3 image channels or non-finite pixels; or
            sets too small for a metric (checked before generating).
        """
        _image_channels(G)
        _check_test(self.metrics, test)
        test_set = None if test is None else ImageSet(test, "test", self.value_range)
        return self._score_generated(
            G,
            ImageSet(real, "real", self.value_range),
            n,
            classes,
            truncation_psi,
            noise_mode,
            seed,
            batch_size,
            test_set,
        )

    def _score_generated(
        self,
        G: GeneratorLike,
        real_set: ImageSet,
        n: int,
        classes: int | Sequence[int] | None,
        truncation_psi: float,
        noise_mode: str | None,
        seed: int,
        batch_size: int | None,
        test_set: ImageSet | None = None,
    ) -> dict[str, float]:
        n = check_int(n, "n", 1)
        # Warnings name the line that called the public method, two frames up.
        kid_subset_size, isc_splits = _check_counts(self._settings(), len(real_set), n, stacklevel=4)
        images = self._generate(G, n, classes, truncation_psi, noise_mode, seed, batch_size)
        # The generated images are uint8 already: value_range does not touch them.
        fake_set = ImageSet(images, "fake")
        return self._run(real_set, fake_set, kid_subset_size, isc_splits, stacklevel=4, test_set=test_set)[0]

    def score_per_class(
        self,
        G: GeneratorLike,
        real_dataset: ImageFolderDataset,
        n_per_class: int,
        *,
        truncation_psi: float = 1.0,
        noise_mode: Literal["const", "random", "none"] | None = None,
        seed: int = 0,
        batch_size: int | None = None,
    ) -> dict[str, dict[str, float]]:
        """Compute the metrics of a conditional generator class by class.

        For each class ``k`` of ``real_dataset``, the dataset's items of class ``k`` are scored against
        ``n_per_class`` images generated with class ``k``, exactly as :meth:`score_generator`
        ``(G, <items of class k>, n_per_class, classes=k, ...)``: every class uses seeds ``seed`` to
        ``seed + n_per_class - 1``. Classes pair up by index: the dataset's ``class_names[k]`` is ``G``'s
        class ``k``, as when ``G`` was trained on that dataset.

        Parameters
        ----------
        G : GeneratorLike
            A conditional generator (``c_dim > 0``).
        real_dataset : ImageFolderDataset
            Real images with class labels (class subfolders, or integer labels in ``dataset.json``), as many
            classes as ``G.c_dim``; mirrored copies count as images.
        n_per_class : int
            Generated images per class.
        truncation_psi, noise_mode, seed, batch_size
            As for :meth:`score_generator`.

        Returns
        -------
        dict of str to dict of str to float
            Class name (``real_dataset.class_names``, in class order) to the metrics, keyed as by :meth:`score`.

        Raises
        ------
        TypeError
            If ``G`` is not a :class:`~medgan_aug.nets.GeneratorLike` or ``real_dataset`` not an
            :class:`~medgan_aug.data.ImageFolderDataset`.
        ValueError
            For an unconditional generator, a dataset without class labels or with another number of classes
            than ``G.c_dim``, a class with too few real images for a metric (fewer than 2), and as
            :meth:`score_generator`. Checked before generating anything.
        """
        _image_channels(G)
        if "copying" in self.metrics:
            raise ValueError("score_per_class does not run the copying audit: use score_generator(..., test=...)")
        if G.c_dim == 0:
            raise ValueError("score_per_class needs a conditional generator, but G is unconditional (c_dim=0)")
        if not isinstance(real_dataset, ImageFolderDataset):
            raise TypeError(f"real_dataset must be an ImageFolderDataset, got {type(real_dataset).__name__}")
        names = list(real_dataset.class_names)
        if not names:
            raise ValueError(
                f"real_dataset ({real_dataset.root}) has no class labels: give it class subfolders or integer "
                "labels in dataset.json"
            )
        if len(names) != G.c_dim:
            raise ValueError(
                f"real_dataset has {len(names)} classes ({', '.join(names)}) but the generator has c_dim={G.c_dim}"
            )
        n_per_class = check_int(n_per_class, "n_per_class", 1)
        members: list[list[int]] = [[] for _ in names]
        for index in range(len(real_dataset)):
            members[int(real_dataset.get_label(index).argmax())].append(index)
        # The Inception Score reads only the fake set, but an empty real class is still a mistake.
        fewest = max((_needs(metric, self.prc_neighborhood) for metric in self.metrics if metric != "isc"), default=2)
        for name, indices in zip(names, members, strict=True):
            if len(indices) < fewest:
                raise ValueError(
                    f"class {name!r} has {len(indices)} real images in {real_dataset.root}, but the metrics "
                    f"{', '.join(self.metrics)} need at least {fewest} per class"
                )
        # An ImageFolderDataset yields [-1, 1] images, whatever value_range says of other sets.
        return {
            name: self._score_generated(
                G,
                ImageSet(Subset(real_dataset, indices), "real", (-1, 1)),
                n_per_class,
                k,
                truncation_psi,
                noise_mode,
                seed,
                batch_size,
            )
            for k, (name, indices) in enumerate(zip(names, members, strict=True))
        }

    def _generate(
        self,
        G: GeneratorLike,
        n: int,
        classes: int | Sequence[int] | None,
        truncation_psi: float,
        noise_mode: str | None,
        seed: int,
        batch_size: int | None,
    ) -> torch.Tensor:
        """Generate images ``seed`` to ``seed + n - 1`` as uint8 ``[n, C, H, W]`` on the CPU."""
        channels = _image_channels(G)
        check_sampling(G, truncation_psi, noise_mode)
        seed = check_int(seed, "seed", 0)
        if seed + n - 1 > MAX_SEED:
            raise ValueError(f"seeds {seed} to {seed + n - 1} exceed 2**32 - 1, the largest seed numpy accepts")
        batch = self.batch_size if batch_size is None else check_int(batch_size, "batch_size", 1)
        if classes is None and G.c_dim > 0:
            labels: list[int | None] = [int(k) for k in np.random.default_rng(seed).integers(G.c_dim, size=n)]
        else:
            labels = class_indices(classes, n, G.c_dim)
        device = generator_device(G)
        images = torch.empty(n, channels, G.img_resolution, G.img_resolution, dtype=torch.uint8)
        with torch.no_grad():
            for begin in range(0, n, batch):
                stop = min(begin + batch, n)
                z, c = generator_inputs(G, range(seed + begin, seed + stop), labels[begin:stop], device)
                output = generate_images(G, z, c, truncation_psi, noise_mode)
                images[begin:stop] = float_to_uint8(
                    output[:, :channels], f"the generator's output for seeds {seed + begin}-{seed + stop - 1}", (-1, 1)
                ).cpu()
        return images

    def _run(
        self,
        real_set: ImageSet,
        fake_set: ImageSet,
        kid_subset_size: int,
        isc_splits: int,
        stacklevel: int = 3,
        test_set: ImageSet | None = None,
    ) -> tuple[dict[str, float], CopyingAudit | None]:
        """Extract the sets' features once through torch-fidelity and compute the metrics (and audit) from them."""
        real, fake, test, real_fid_stats = self._extract(real_set, fake_set, self.metrics, test_set, stacklevel + 1)
        return _compute(
            self._settings(),
            fake,
            real,
            (len(real_set), len(fake_set), kid_subset_size, isc_splits),
            real_fid_stats,
            test,
            stacklevel + 1,
        )

    def _extractor_kwargs(self) -> tuple[dict[str, Any], str | None, bool]:
        """torch-fidelity's arguments naming the extractor, its identity for cache keys, and whether it downloads."""
        kwargs: dict[str, Any] = {
            "batch_size": self.batch_size,
            "cuda": self.device.type == "cuda",
            "verbose": self.progress,
            # Loads in the main process: the sets are in memory or cheap to decode next to the extractor, and
            # the ImageSets see every image they serve (for misread_warning).
            "save_cpu_ram": True,
        }
        module = self._module
        downloads = module is None and self.weights is None and downloads_weights(self.extractor_name)
        if module is not None:
            identity = self._identity or module_fingerprint(module)
            kwargs["feature_extractor"] = register_module(identity)
            kwargs[MODULE_KWARG] = module
        else:
            identity = self._identity
            kwargs["feature_extractor"] = self.extractor_name
            if self.weights is not None:
                kwargs["feature_extractor_weights_path"] = str(self.weights)
            elif downloads:
                check_weights_available(self.extractor_name)
        return kwargs, identity, downloads

    def features(self, images: ImageSetSource) -> torch.Tensor:
        """The features of one set of images in FID's layer of the extractor, ``[N, D]`` on the CPU.

        The extractor is built on the first call and kept, so that screening generated images batch by batch
        (:class:`~medgan_aug.metrics.CopyScreen`) does not rebuild it each time.

        Parameters
        ----------
        images : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
            As for :meth:`score`.

        Returns
        -------
        torch.Tensor
            One row per image, in the order the set is read.
        """
        image_set = ImageSet(images, "images", self.value_range)
        if len(image_set) == 0:
            raise ValueError("images: the set is empty")
        with self._extracting():
            if self._feature_extractor is None:
                # Built once with its arguments (a module extractor's fingerprint hashes all its weights).
                kwargs, _, _ = self._extractor_kwargs()
                kwargs["cache"] = False
                layer = resolve_feature_layer_for_metric("fid", **kwargs)
                extractor = create_feature_extractor(kwargs["feature_extractor"], [layer], **kwargs)
                self._feature_extractor = (extractor, kwargs, layer)
            extractor, kwargs, layer = self._feature_extractor
            features = extract_featuresdict_from_input_id_cached(1, extractor, **kwargs, input1=image_set)[layer]
        message = image_set.misread_warning()
        if message is not None:
            warnings.warn(message, UserWarning, stacklevel=2)
        return features.detach().cpu()

    @contextlib.contextmanager
    def _extracting(self) -> Iterator[None]:
        """On the scorer's device; a module extractor gets its training flag and ``requires_grad`` back after."""
        module = self._module
        saved = None if module is None else (module.training, [p.requires_grad for p in module.parameters()])
        device_context = torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext()
        try:
            with device_context:
                yield
        finally:
            if module is not None and saved is not None:
                module.train(saved[0])
                for parameter, flag in zip(module.parameters(), saved[1], strict=True):
                    parameter.requires_grad_(flag)

    def _cache_name(self, image_set: ImageSet, identity: str | None) -> str:
        key = f"{image_set.fingerprint()}\0{identity}\0{_PREPARATION_VERSION}"
        return f"medgan-aug-real-{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    def _extract(
        self,
        real_set: ImageSet,
        fake_set: ImageSet,
        metrics: Sequence[str],
        test_set: ImageSet | None = None,
        stacklevel: int = 4,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None, dict[str, np.ndarray] | None]:
        """The real and fake features of each metric, the test set's (FID's layer) and the cached real FID stats."""
        kwargs, identity, downloads = self._extractor_kwargs()
        # torch-fidelity's input1 is the generated set: precision/recall and the Inception Score rely on it.
        kwargs.update(
            input1=fake_set,
            input2=real_set,
            cache=self.cache_dir is not None,
            **{metric: metric in metrics for metric in METRICS if metric != "copying"},
        )
        if self.cache_dir is not None:
            kwargs["cache_root"] = str(self.cache_dir)
            kwargs["input2_cache_name"] = self._cache_name(real_set, identity)
        layers = {metric: resolve_feature_layer_for_metric(_layer_metric(metric), **kwargs) for metric in metrics}

        test = None
        try:
            with self._extracting():
                extractor = create_feature_extractor(
                    kwargs["feature_extractor"], list(dict.fromkeys(layers.values())), **kwargs
                )
                fake = extract_featuresdict_from_input_id_cached(1, extractor, **kwargs)
                real = extract_featuresdict_from_input_id_cached(2, extractor, **kwargs)
                if test_set is not None:
                    # The held-out set goes through the same slot as the real one, under its own cache name.
                    test_kwargs = {**kwargs, "input2": test_set}
                    if self.cache_dir is not None:
                        test_kwargs["input2_cache_name"] = self._cache_name(test_set, identity)
                    test = extract_featuresdict_from_input_id_cached(2, extractor, **test_kwargs)[layers["copying"]]
                real_fid_stats = None
                if "fid" in layers:
                    # torch-fidelity's cache of the real set's statistics, under the names it has always used.
                    real_fid_stats = fid_featuresdict_to_statistics_cached(
                        real, kwargs.get("input2_cache_name"), extractor, layers["fid"], **kwargs
                    )
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            # The download found reachable a moment ago failed after all.
            if not downloads:
                raise
            raise MetricsWeightsError(missing_weights_message(self.extractor_name)) from error
        for image_set in (real_set, fake_set, test_set):
            message = None if image_set is None else image_set.misread_warning()
            if message is not None:
                warnings.warn(message, UserWarning, stacklevel=stacklevel)
        return (
            {metric: real[layer] for metric, layer in layers.items()},
            {metric: fake[layer] for metric, layer in layers.items()},
            test,
            real_fid_stats,
        )

    @staticmethod
    def from_features(
        real: np.ndarray | torch.Tensor,
        fake: np.ndarray | torch.Tensor,
        metrics: Sequence[str] = ("fid", "kid", "prc"),
        *,
        fake_logits: np.ndarray | torch.Tensor | None = None,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        prc_neighborhood: int = 3,
        seed: int = 0,
        fid_bootstrap: int = 200,
        fid_floor: bool = True,
        test: np.ndarray | torch.Tensor | None = None,
        copying_cells: int | None = None,
        copying_min_cell_size: int = 20,
        copying_threshold: float = 0.5,
    ) -> dict[str, float]:
        """Compute the metrics from feature arrays with torch-fidelity's own functions.

        The results equal those of :meth:`score` (which uses ``seed`` 0) on images with these features.

        Parameters
        ----------
        real, fake : numpy.ndarray or torch.Tensor
            Features ``[N, D]`` of the real and the generated images (float32 and float64 are kept, other
            types become float64).
        metrics : sequence of str
            Any of :data:`METRICS`; ``"isc"`` needs ``fake_logits``.
        fake_logits : numpy.ndarray or torch.Tensor, optional
            Class logits ``[N, K]`` of the generated images, for the Inception Score; as many rows as ``fake``
            when other metrics use it too.
        kid_subsets, kid_subset_size, prc_neighborhood : int
            As for :class:`FIDScorer`.
        seed : int
            Seed of the random KID subsets, the Inception Score's shuffling, FID's bootstrap and floor splits.
        fid_bootstrap : int
            Bootstrap resamples of FID's interval, as for :class:`FIDScorer`.
        fid_floor : bool
            Whether to compute the real-vs-real floor.
        test : numpy.ndarray or torch.Tensor, optional
            Features of held-out real images, for ``"copying"`` (``real`` being the training images).
        copying_cells, copying_min_cell_size, copying_threshold
            As for :class:`FIDScorer`.

        Returns
        -------
        dict of str to float
            The same keys as :meth:`score`.

        Raises
        ------
        ValueError
            For arrays that are not 2-D, have different widths or non-finite values, sets too small for a
            metric, ``"isc"`` without ``fake_logits`` (or with another number of rows than ``fake``), or
            ``fid_bootstrap`` from 1 to 99.
        """
        settings = _Settings(
            _check_metrics(metrics),
            check_int(kid_subsets, "kid_subsets", 1),
            check_int(kid_subset_size, "kid_subset_size", 2),
            check_int(prc_neighborhood, "prc_neighborhood", 1),
            _bootstrap_count(fid_bootstrap),
            bool(fid_floor),
            check_int(seed, "seed", 0),
            copying_cells=copying_cells,
            copying_min_cell_size=copying_min_cell_size,
            copying_threshold=copying_threshold,
        )
        _check_test(settings.metrics, test)
        real_t, fake_t = _features(real, "real features"), _features(fake, "fake features")
        test_t = None if test is None else _features(test, "test features")
        if real_t.shape[1] != fake_t.shape[1]:
            raise ValueError(f"real and fake features differ in width: {real_t.shape[1]} and {fake_t.shape[1]} columns")
        if real_t.dtype != fake_t.dtype:
            real_t, fake_t = real_t.double(), fake_t.double()
        fake_by_metric = dict.fromkeys(settings.metrics, fake_t)
        n_fake = len(fake_t)
        if "isc" in settings.metrics:
            if fake_logits is None:
                raise ValueError("metric 'isc' needs fake_logits, the class logits [N, K] of the fake images")
            fake_by_metric["isc"] = logits = _features(fake_logits, "fake_logits")
            if settings.metrics != ("isc",) and len(logits) != n_fake:
                raise ValueError(f"fake_logits has {len(logits)} rows but fake has {n_fake}: one per generated image")
            n_fake = len(logits)
        kid_subset_size, isc_splits = _check_counts(settings, len(real_t), n_fake)
        return _compute(
            settings,
            fake_by_metric,
            dict.fromkeys(settings.metrics, real_t),
            (len(real_t), n_fake, kid_subset_size, isc_splits),
            test=test_t,
        )[0]
