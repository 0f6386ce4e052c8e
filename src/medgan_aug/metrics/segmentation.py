"""Overlap scores of binary segmentation masks: Jaccard (IoU), Dice and VOC, per image or per tile.

Used to compare segmentation models, e.g. models trained with and without GAN-generated image/mask pairs.
Foreground is a true (or 1) pixel. For a prediction ``P`` and a target ``T`` (sets of foreground pixels):

- Jaccard (IoU) = ``|P & T| / |P | T|``;
- Dice = ``2 |P & T| / (|P| + |T|)``, so Dice = 2 J / (1 + J) for every pair;
- VOC = the mean of the foreground IoU and the background IoU (the IoU of the complements), the PASCAL VOC
  mean IoU over the two classes.

**The empty case.** When prediction and target both have no foreground, Jaccard and Dice are 0/0 (the
background IoU is 0/0 when both are all foreground). The ``empty`` policy defines the value:

- ``"one"`` (default): the 0/0 ratio scores 1 (nothing to find and nothing found is a perfect answer);
- ``"nan"``: the ratio is NaN; an item's VOC is then the mean over its defined classes only (an empty pair has
  VOC = background IoU = 1), and the summary means leave NaN items out;
- ``"skip"``: items whose masks are both empty get NaN Jaccard, Dice *and* VOC and are left out of every summary
  mean, so the means describe only the items with foreground; a single pair scores NaN.

If only one of the two masks is empty, the ratio is defined and is 0 under every policy. In mitochondria tiles
with about 5% foreground many tiles are empty, so ``"one"`` raises the per-tile means; report the policy.

Masks are bool, or integer/float arrays holding only 0 and 1. Probabilities or 0/255 masks need a threshold
(:func:`binarize` or ``threshold=``): a pixel is foreground when its value is strictly greater than the
threshold, so a value of exactly 0.5 is background at the default threshold of 0.5. torch tensors are accepted
and converted on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

__all__ = [
    "EMPTY_POLICIES",
    "SegmentationScores",
    "binarize",
    "dice",
    "jaccard",
    "segmentation_scores",
    "voc_score",
]

EMPTY_POLICIES: tuple[str, ...] = ("one", "nan", "skip")
"""Values of ``empty``: how a 0/0 ratio (both masks empty) scores, see the module docstring."""

_BINARIZE_HINT = "binarize it first (binarize(mask, threshold))"


@dataclass(frozen=True, eq=False)
class SegmentationScores:
    """Per-item overlap scores and their summary, from :func:`segmentation_scores`.

    Items are whole images (``per="image"``) or tiles, image by image and row by row within an image.

    Attributes
    ----------
    jaccard, dice, voc : numpy.ndarray
        float64 ``[M]`` scores per item; NaN where the ``empty`` policy says so.
    empty : numpy.ndarray
        bool ``[M]``: prediction and target both have no foreground.
    image : numpy.ndarray
        int64 ``[M]``: index of the image the item comes from.
    origin : numpy.ndarray
        int64 ``[M, 2]``: (top, left) pixel of the item in its image; (0, 0) for whole images.
    per : str
        ``"image"`` or ``"tile"``.
    tile : int or None
        Tile side in pixels (``per="tile"``).
    empty_policy : str
        One of :data:`EMPTY_POLICIES`.
    mean_jaccard, mean_dice, mean_voc : float
        Means over the items, leaving out NaN items; NaN when no item is left.
    micro_jaccard, micro_dice : float
        Pooled over all pixels of all items (the same for ``per="image"`` and ``per="tile"``); the ``empty``
        policy applies when no mask has any foreground.
    """

    jaccard: np.ndarray
    dice: np.ndarray
    voc: np.ndarray
    empty: np.ndarray
    image: np.ndarray
    origin: np.ndarray
    per: str
    tile: int | None
    empty_policy: str
    mean_jaccard: float
    mean_dice: float
    mean_voc: float
    micro_jaccard: float
    micro_dice: float

    @property
    def n_items(self) -> int:
        """Number of scored images or tiles."""
        return int(self.jaccard.shape[0])

    @property
    def n_empty(self) -> int:
        """Number of items whose prediction and target are both empty."""
        return int(self.empty.sum())

    def to_dict(self) -> dict[str, Any]:
        """Return the scores as JSON-serialisable built-in types, NaN written as None.

        Returns
        -------
        dict
            The per-item lists, the summary values, ``n_items`` and ``n_empty``.
        """
        return {
            "per": self.per,
            "tile": self.tile,
            "empty_policy": self.empty_policy,
            "n_items": self.n_items,
            "n_empty": self.n_empty,
            "mean_jaccard": _json_float(self.mean_jaccard),
            "mean_dice": _json_float(self.mean_dice),
            "mean_voc": _json_float(self.mean_voc),
            "micro_jaccard": _json_float(self.micro_jaccard),
            "micro_dice": _json_float(self.micro_dice),
            "jaccard": [_json_float(v) for v in self.jaccard.tolist()],
            "dice": [_json_float(v) for v in self.dice.tolist()],
            "voc": [_json_float(v) for v in self.voc.tolist()],
            "empty": self.empty.tolist(),
            "image": self.image.tolist(),
            "origin": self.origin.tolist(),
        }

    def to_markdown(self) -> str:
        """Return a Markdown table of the summary (3 decimals; n/a for NaN) and a line on the items and policy."""
        lines = [
            "| metric | mean over items | pooled (micro) |",
            "|---|---:|---:|",
            f"| Jaccard (IoU) | {_fmt(self.mean_jaccard)} | {_fmt(self.micro_jaccard)} |",
            f"| Dice | {_fmt(self.mean_dice)} | {_fmt(self.micro_dice)} |",
            f"| VOC | {_fmt(self.mean_voc)} | n/a |",
            "",
        ]
        n_images = int(np.unique(self.image).size)
        unit = "images" if self.per == "image" else f"tiles of {self.tile} px from {n_images} images"
        lines.append(f"- items: {self.n_items} {unit}, {self.n_empty} with both masks empty")
        lines.append(f"- empty policy: {self.empty_policy}")
        return "\n".join(lines) + "\n"


def binarize(mask: Any, threshold: float = 0.5) -> np.ndarray:
    """Threshold a mask: foreground where the value is strictly greater than ``threshold``.

    Parameters
    ----------
    mask : array-like or torch.Tensor
        Probabilities, logits, 0/255 masks, ... of any shape (bool, integer or float).
    threshold : float
        Values above it are foreground; a value equal to it is background.

    Returns
    -------
    numpy.ndarray
        bool mask of the same shape.

    Raises
    ------
    ValueError
        For a non-finite threshold, non-numeric masks or NaN values.
    """
    return _binary(_to_numpy(mask, "mask"), "mask", _check_threshold(threshold), _BINARIZE_HINT)


def jaccard(pred: Any, target: Any, *, empty: str = "one") -> float:
    """Foreground IoU ``|P & T| / |P | T|`` of one mask pair, over all its pixels.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary masks of the same shape (typically ``[H, W]``); a stack is pooled over all its pixels.
    empty : str
        Score when both masks are empty: one of :data:`EMPTY_POLICIES` (``"nan"`` and ``"skip"`` give NaN).

    Returns
    -------
    float
        The IoU in [0, 1], or NaN as ``empty`` says.

    Raises
    ------
    ValueError
        For non-binary masks, different shapes or an unknown ``empty``.
    """
    inter, union, _, _ = _pair_counts(pred, target, empty)
    return float(_ratio(inter, union, empty)[0])


def dice(pred: Any, target: Any, *, empty: str = "one") -> float:
    """Dice coefficient ``2 |P & T| / (|P| + |T|)`` of one mask pair, over all its pixels.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary masks of the same shape (typically ``[H, W]``); a stack is pooled over all its pixels.
    empty : str
        Score when both masks are empty: one of :data:`EMPTY_POLICIES` (``"nan"`` and ``"skip"`` give NaN).

    Returns
    -------
    float
        The Dice coefficient in [0, 1], or NaN as ``empty`` says.

    Raises
    ------
    ValueError
        For non-binary masks, different shapes or an unknown ``empty``.
    """
    inter, _, sizes, _ = _pair_counts(pred, target, empty)
    return float(_ratio(2 * inter, sizes, empty)[0])


def voc_score(pred: Any, target: Any, *, empty: str = "one") -> float:
    """Mean of the foreground IoU and the background IoU of one mask pair, over all its pixels.

    Parameters
    ----------
    pred, target : array-like or torch.Tensor
        Binary masks of the same shape (typically ``[H, W]``); a stack is pooled over all its pixels.
    empty : str
        Rule for a class absent from both masks, one of :data:`EMPTY_POLICIES`: ``"one"`` scores the class 1,
        ``"nan"`` averages over the other class only, ``"skip"`` gives NaN when the foreground is absent.

    Returns
    -------
    float
        The VOC score in [0, 1], or NaN as ``empty`` says.

    Raises
    ------
    ValueError
        For non-binary masks, different shapes or an unknown ``empty``.
    """
    inter, union, _, npix = _pair_counts(pred, target, empty)
    return float(_voc(inter, union, npix, empty)[0])


def segmentation_scores(
    preds: Any,
    targets: Any,
    *,
    per: Literal["image", "tile"] = "image",
    tile: int | None = None,
    empty: str = "one",
    threshold: float | None = None,
) -> SegmentationScores:
    """Jaccard, Dice and VOC per image or per tile of a batch of predicted and target masks.

    Parameters
    ----------
    preds, targets : array-like or torch.Tensor
        Masks ``[N, H, W]``, ``[N, 1, H, W]`` or a single ``[H, W]``, the same shape for both.
    per : {"image", "tile"}
        Score whole images, or each non-overlapping ``tile`` x ``tile`` tile as an item.
    tile : int, optional
        Tile side in pixels; required with ``per="tile"`` and must divide H and W.
    empty : str
        How a 0/0 ratio scores, one of :data:`EMPTY_POLICIES` (see the module docstring).
    threshold : float, optional
        Binarize both ``preds`` and ``targets`` with ``value > threshold``; without it they must be binary.

    Returns
    -------
    SegmentationScores
        Per-item arrays and summary means.

    Raises
    ------
    ValueError
        For non-binary masks (without ``threshold``), different shapes, unsupported dimensions, an unknown
        ``per`` or ``empty``, or a ``tile`` missing, not a positive integer or not dividing H and W.
    """
    _check_policy(empty)
    if per not in ("image", "tile"):
        raise ValueError(f"per must be 'image' or 'tile', got {per!r}")
    hint = "pass threshold= or binarize it first"
    limit = None if threshold is None else _check_threshold(threshold)
    raw_p, raw_t = _to_numpy(preds, "preds"), _to_numpy(targets, "targets")
    p = _as_batch(_binary(raw_p, "preds", limit, hint), "preds")
    t = _as_batch(_binary(raw_t, "targets", limit, hint), "targets")
    if p.shape != t.shape:
        raise ValueError(f"preds shape {raw_p.shape} differs from targets shape {raw_t.shape}")
    n, h, w = p.shape
    if per == "image":
        if tile is not None:
            raise ValueError(f"tile={tile} is only used with per='tile'")
        side_h, side_w = h, w
    else:
        if tile is None:
            raise ValueError("per='tile' needs tile= (the tile side in pixels)")
        if isinstance(tile, bool) or not isinstance(tile, int | np.integer) or tile < 1:
            raise ValueError(f"tile must be a positive integer, got {tile!r}")
        if h % tile or w % tile:
            raise ValueError(f"tile={tile} does not divide the mask size {h} x {w}")
        side_h = side_w = int(tile)
    rows, cols = h // side_h, w // side_w
    # Summing over the two within-tile axes of a [N, rows, side, cols, side] view counts every tile at once.
    grid = (n, rows, side_h, cols, side_w)

    def count(mask: np.ndarray) -> np.ndarray:
        return mask.reshape(grid).sum(axis=(2, 4), dtype=np.int64).ravel()

    inter, union = count(p & t), count(p | t)
    sizes = count(p) + count(t)
    npix = side_h * side_w
    is_empty = union == 0

    scores_j = _ratio(inter, union, empty)
    scores_d = _ratio(2 * inter, sizes, empty)
    scores_v = _voc(inter, union, npix, empty)
    micro_j = _ratio(inter.sum(keepdims=True), union.sum(keepdims=True), empty)[0]
    micro_d = _ratio(2 * inter.sum(keepdims=True), sizes.sum(keepdims=True), empty)[0]

    image = np.repeat(np.arange(n, dtype=np.int64), rows * cols)
    tops, lefts = np.meshgrid(np.arange(rows) * side_h, np.arange(cols) * side_w, indexing="ij")
    origin = np.tile(np.stack([tops.ravel(), lefts.ravel()], axis=1).astype(np.int64), (n, 1))
    for array in (scores_j, scores_d, scores_v, is_empty, image, origin):
        array.setflags(write=False)
    return SegmentationScores(
        jaccard=scores_j,
        dice=scores_d,
        voc=scores_v,
        empty=is_empty,
        image=image,
        origin=origin,
        per=per,
        tile=None if per == "image" else side_h,
        empty_policy=empty,
        mean_jaccard=_nan_mean(scores_j),
        mean_dice=_nan_mean(scores_d),
        mean_voc=_nan_mean(scores_v),
        micro_jaccard=float(micro_j),
        micro_dice=float(micro_d),
    )


def _check_policy(empty: str) -> None:
    if empty not in EMPTY_POLICIES:
        raise ValueError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    return float(threshold)


def _to_numpy(mask: Any, name: str) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu()
        # numpy has no bfloat16; float32 holds every float16/bfloat16 value exactly.
        if mask.is_floating_point():
            mask = mask.float()
        mask = mask.numpy()
    array = np.asarray(mask)
    if array.dtype != np.bool_ and array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a bool, integer or float array, got dtype {array.dtype}")
    return array


def _binary(array: np.ndarray, name: str, threshold: float | None, hint: str) -> np.ndarray:
    if array.dtype.kind == "f" and threshold is not None and np.isnan(array).any():
        raise ValueError(f"{name} has NaN values")
    if threshold is not None:
        return array > threshold
    if array.dtype == np.bool_:
        return array
    bad = (array != 0) & (array != 1)
    if bad.any():
        first = np.flatnonzero(bad)[0]
        where = tuple(int(i) for i in np.unravel_index(first, array.shape))
        raise ValueError(
            f"{name} must be a binary mask (bool or 0/1), found {array.flat[first].item()!r} at index {where}; {hint}"
        )
    return array == 1


def _as_batch(mask: np.ndarray, name: str) -> np.ndarray:
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    elif mask.ndim == 2:
        mask = mask[None]
    if mask.ndim != 3:
        raise ValueError(f"{name} must be [N, H, W], [N, 1, H, W] or [H, W], got shape {tuple(mask.shape)}")
    if mask.size == 0:
        raise ValueError(f"{name} has no pixels (shape {tuple(mask.shape)})")
    return mask


def _pair_counts(pred: Any, target: Any, empty: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    _check_policy(empty)
    p = _binary(_to_numpy(pred, "pred"), "pred", None, _BINARIZE_HINT)
    t = _binary(_to_numpy(target, "target"), "target", None, _BINARIZE_HINT)
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} differs from target shape {t.shape}")
    if p.size == 0:
        raise ValueError(f"pred and target have no pixels (shape {p.shape})")
    inter = np.array([np.count_nonzero(p & t)], dtype=np.int64)
    union = np.array([np.count_nonzero(p | t)], dtype=np.int64)
    sizes = np.array([np.count_nonzero(p) + np.count_nonzero(t)], dtype=np.int64)
    return inter, union, sizes, p.size


def _ratio(num: np.ndarray, den: np.ndarray, empty: str) -> np.ndarray:
    # A zero denominator means both masks lack the class: the 0/0 case the policy defines.
    fill = 1.0 if empty == "one" else np.nan
    out = np.full(num.shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _voc(inter: np.ndarray, union: np.ndarray, npix: int, empty: str) -> np.ndarray:
    fg = _ratio(inter, union, empty)
    # Background intersection is the pixels outside the union; background union is the pixels outside the overlap.
    bg = _ratio(npix - union, npix - inter, empty)
    classes = np.stack([fg, bg])
    defined = (~np.isnan(classes)).sum(axis=0)
    out = np.full(inter.shape, np.nan, dtype=np.float64)
    np.divide(np.nansum(classes, axis=0), defined, out=out, where=defined > 0)
    if empty == "skip":
        out[union == 0] = np.nan
    return out


def _nan_mean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else math.nan


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
