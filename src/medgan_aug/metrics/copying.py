"""Does a generator copy its training images? The data-copying test and per-image nearest-training flags.

A generator trained on a few thousand images can learn to reproduce some of them almost exactly. A synthetic set
that copies patients leaks them, and inflates any classifier gain measured on images of the same patients; FID
cannot see it (copying lowers FID). :func:`audit_copying` looks for it in a feature space, with three sets: the
generator's training images ``T``, its generated images ``Q`` and held-out real images ``P`` of the same
distribution that the generator never saw.

The three-sample data-copying test (Meehan, Chaudhuri and Dasgupta 2020, "A non-parametric test to detect
data-copying in generative models") compares ``d(q, T)``, the distance of each generated image to its nearest
training image, with ``d(p, T)`` of each held-out image. A generator that generalises puts its images as far
from ``T`` as new real images are; one that copies puts them closer. Because a generator can copy in one region
and underfit in another, ``T`` is cut into cells by k-means and the comparison made per cell: in cell ``c``
the Mann-Whitney statistic ``U_c`` counts the (generated, held-out) pairs whose generated distance is the
larger (ties count a half), and ``Z_c = (U_c - m n / 2) / sqrt(m n (m + n + 1) / 12)`` for ``m`` generated
and ``n`` held-out images in the cell. ``Z_U`` is the mean of the ``Z_c`` weighted by each cell's share of the
held-out images, over the cells holding at least ``min_cell_size`` generated images and at least one held-out
image; the others are listed as skipped, with their counts. ``Z_U`` near 0: no sign of copying; well below 0
(say below -3): generated images sit closer to the training images than new real images do; well above 0: they
sit farther (underfitting, or another distribution).

Per generated image, the ratio of its distance to its nearest training image ``t`` to the distance from ``t``
to ``t``'s own nearest other training image (in the spirit of the authenticity score of Alaa et al. 2022,
"How faithful is your synthetic data?") says how much closer it came to ``t`` than the data's own spacing
there. Images with a ratio below ``threshold`` are flagged as likely copies. The same rule applied to the
held-out images gives the fraction of new real images it would flag: the floor to read the generated
fraction against.

Nearest neighbours are exact and found in chunks (memory grows with the chunk, not with the product of the set
sizes): candidates by float32 matrix products, the chosen distances recomputed in float64.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from scipy.cluster.vq import kmeans2
from scipy.stats import rankdata

from .._files import atomic_write
from .._validation import check_int
from .image_sets import ImageSet, ImageSetSource

__all__ = [
    "COPYING_KEYS",
    "CellResult",
    "CopyingAudit",
    "NearestNeighbourIndex",
    "audit_copying",
    "mann_whitney_z",
    "nearest_neighbours",
    "save_copy_pairs",
]

COPYING_KEYS: tuple[str, ...] = (
    "copying_zu",
    "copying_flagged_fraction",
    "copying_test_flagged_fraction",
    "copying_threshold",
    "copying_cells",
    "copying_cells_used",
    "copying_n_train",
    "copying_n_test",
)
"""The keys :meth:`CopyingAudit.summary` gives (and :class:`~medgan_aug.metrics.FIDScorer` reports)."""

_CHUNK_ROWS = 1024
_MAX_DEFAULT_CELLS = 20
# Held-out images per cell on average when the number of cells is chosen.
_TEST_PER_CELL = 50


def _features(values: Any, name: str) -> np.ndarray:
    array = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [N, D], got shape {list(array.shape)}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: the copying audit needs at least one image in every set")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must hold numbers, got dtype {array.dtype}")
    # float32 stays float32 (half the memory of large feature sets); distances are computed in float64 anyway.
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has non-finite values")
    return array


class NearestNeighbourIndex:
    """A reference set prepared once for exact nearest-neighbour queries (Euclidean), in chunks of query rows.

    The reference is centred on its mean and kept in float32 (the squared-norm expansion then loses fewer digits)
    with its squared norms, so that each query costs one float32 matrix product per chunk; the chosen distances
    are recomputed in float64 from the original rows.

    Parameters
    ----------
    reference : array ``[N, D]``
        The points to search.
    chunk_rows : int
        Rows converted and queried at a time: memory is about ``chunk_rows * N`` float32 values.
    """

    def __init__(self, reference: np.ndarray | torch.Tensor, *, chunk_rows: int = _CHUNK_ROWS) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, numbers.Integral) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        self.reference = _features(reference, "reference")
        self.chunk_rows = int(chunk_rows)
        self._centre = self.reference.mean(axis=0, dtype=np.float64)
        # Chunk by chunk: no temporary as large as the whole set in float64.
        rows = self.reference
        self._ref32 = torch.cat([self._centred32(rows[b : b + chunk_rows]) for b in range(0, len(rows), chunk_rows)])
        self._ref_norms = self._ref32.square().sum(dim=1)

    def _centred32(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((rows - self._centre).astype(np.float32))

    def query(self, queries: np.ndarray | torch.Tensor, *, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The nearest reference row of every query row.

        Parameters
        ----------
        queries : array ``[M, D]``
            The points to look up.
        exclude_self : bool
            ``queries`` is the reference (``M == N``): skip each row's own index, for the nearest *other* point.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            float64 distances ``[M]`` and int64 indices ``[M]`` into the reference.
        """
        q = _features(queries, "queries")
        r = self.reference
        if q.shape[1] != r.shape[1]:
            raise ValueError(f"queries and reference differ in width: {q.shape[1]} and {r.shape[1]} features")
        if exclude_self and (q.shape[0] != r.shape[0] or r.shape[0] < 2):
            raise ValueError("exclude_self needs queries that are the reference, with at least 2 rows")
        indices = np.empty(q.shape[0], dtype=np.int64)
        distances = np.empty(q.shape[0], dtype=np.float64)
        for begin in range(0, q.shape[0], self.chunk_rows):
            rows = q[begin : begin + self.chunk_rows]
            chunk = self._centred32(rows)
            squared = chunk.square().sum(dim=1, keepdim=True) + self._ref_norms - 2 * chunk @ self._ref32.T
            if exclude_self:
                own = torch.arange(chunk.shape[0])
                squared[own, own + begin] = math.inf
            found = squared.argmin(dim=1).numpy()
            indices[begin : begin + len(found)] = found
            difference = rows.astype(np.float64) - r[found]
            distances[begin : begin + len(found)] = np.sqrt(np.einsum("ij,ij->i", difference, difference))
        return distances, indices


def nearest_neighbours(
    queries: np.ndarray | torch.Tensor,
    reference: np.ndarray | torch.Tensor,
    *,
    exclude_self: bool = False,
    chunk_rows: int = _CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact nearest reference row of every query row: :class:`NearestNeighbourIndex` for one query.

    Parameters
    ----------
    queries : array ``[M, D]``
        The points to look up.
    reference : array ``[N, D]``
        The points to search.
    exclude_self : bool
        ``queries`` is ``reference`` (``M == N``): skip each row's own index, for the nearest *other* point.
    chunk_rows : int
        Query rows per chunk: memory is about ``chunk_rows * N`` float32 values.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        float64 distances ``[M]`` and int64 indices ``[M]`` into ``reference``.
    """
    return NearestNeighbourIndex(reference, chunk_rows=chunk_rows).query(queries, exclude_self=exclude_self)


def mann_whitney_z(generated: np.ndarray, held_out: np.ndarray) -> tuple[float, float]:
    """Mann-Whitney ``U`` of generated against held-out distances, and its normal score ``Z``.

    ``U`` counts the pairs (generated, held-out) whose generated value is the larger, ties counting a half;
    ``Z = (U - m n / 2) / sqrt(m n (m + n + 1) / 12)``, the form of Meehan et al. (no tie correction).

    Parameters
    ----------
    generated : numpy.ndarray
        ``m`` >= 1 values.
    held_out : numpy.ndarray
        ``n`` >= 1 values.

    Returns
    -------
    (float, float)
        ``U`` and ``Z``.
    """
    m, n = len(generated), len(held_out)
    if m == 0 or n == 0:
        raise ValueError(f"the Mann-Whitney statistic needs values on both sides, got {m} and {n}")
    ranks = rankdata(np.concatenate([generated, held_out]))
    u = float(ranks[:m].sum() - m * (m + 1) / 2)
    return u, (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12)


@dataclass(frozen=True)
class CellResult:
    """One k-means cell of the training set in the data-copying test.

    Attributes
    ----------
    n_train, n_test, n_generated : int
        Training, held-out and generated images in the cell (each assigned to its nearest cell centre).
    zu : float or None
        The cell's ``Z``; None when the cell is skipped.
    skipped : str or None
        Why the cell does not count (too few generated images, no held-out image), or None.
    """

    n_train: int
    n_test: int
    n_generated: int
    zu: float | None
    skipped: str | None


@dataclass(frozen=True)
class CopyingAudit:
    """The result of :func:`audit_copying`: the data-copying test and the per-image flags.

    Attributes
    ----------
    zu : float
        ``Z_U``, the held-out-weighted mean of the cells' ``Z`` (NaN when no cell counts).
    cells : tuple of CellResult
        Every cell, counted or skipped.
    threshold : float
        The ratio below which an image is flagged.
    nearest_train : numpy.ndarray
        int64 ``[M]``: each generated image's nearest training image.
    distance : numpy.ndarray
        float64 ``[M]``: its distance to it.
    ratio : numpy.ndarray
        float64 ``[M]``: ``distance`` over that training image's distance to its own nearest other training
        image (0 for an exact copy; infinite when the training image has an exact duplicate and the generated
        image is not one).
    flagged : numpy.ndarray
        bool ``[M]``: ``ratio < threshold``.
    generated_cell, test_cell : numpy.ndarray
        int64 ``[M]`` and ``[N_P]``: the cell of each generated and held-out image.
    test_flagged_fraction : float
        The fraction of held-out images the same rule flags: the floor for :attr:`flagged_fraction`.
    n_train, n_test : int
        Sizes of the training and held-out sets.
    """

    zu: float
    cells: tuple[CellResult, ...]
    threshold: float
    nearest_train: np.ndarray = field(repr=False)
    distance: np.ndarray = field(repr=False)
    ratio: np.ndarray = field(repr=False)
    flagged: np.ndarray = field(repr=False)
    generated_cell: np.ndarray = field(repr=False)
    test_cell: np.ndarray = field(repr=False)
    test_flagged_fraction: float
    n_train: int
    n_test: int

    @property
    def flagged_fraction(self) -> float:
        """The fraction of generated images flagged as likely copies."""
        return float(self.flagged.mean())

    @property
    def cells_used(self) -> int:
        """How many cells count towards :attr:`zu`."""
        return sum(cell.skipped is None for cell in self.cells)

    def most_similar(self, count: int) -> list[tuple[int, int, float]]:
        """The ``count`` generated images closest to a training image for the data's spacing there.

        Returns
        -------
        list of (int, int, float)
            ``(generated index, training index, ratio)``, lowest ratio first.
        """
        order = np.argsort(self.ratio, kind="stable")[: max(int(count), 0)]
        return [(int(i), int(self.nearest_train[i]), float(self.ratio[i])) for i in order]

    def summary(self) -> dict[str, float]:
        """The numbers of the audit under :data:`COPYING_KEYS`."""
        return {
            "copying_zu": self.zu,
            "copying_flagged_fraction": self.flagged_fraction,
            "copying_test_flagged_fraction": self.test_flagged_fraction,
            "copying_threshold": self.threshold,
            "copying_cells": float(len(self.cells)),
            "copying_cells_used": float(self.cells_used),
            "copying_n_train": float(self.n_train),
            "copying_n_test": float(self.n_test),
        }

    def describe_skipped(self) -> str | None:
        """One line on the skipped cells and the images in them, or None when every cell counts."""
        skipped = [(k, cell) for k, cell in enumerate(self.cells) if cell.skipped is not None]
        if not skipped:
            return None
        parts = [
            f"cell {k} ({cell.n_generated} generated, {cell.n_test} held-out, {cell.n_train} training: {cell.skipped})"
            for k, cell in skipped
        ]
        share = sum(cell.n_test for _, cell in skipped) / max(self.n_test, 1)
        return (
            f"{len(skipped)} of {len(self.cells)} cells left out of Z_U, holding {share:.0%} of the held-out "
            f"images: " + "; ".join(parts)
        )


def _ratio(distance: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    ratio = np.full(distance.shape, np.inf)
    np.divide(distance, spacing, out=ratio, where=spacing > 0)
    ratio[(spacing == 0) & (distance == 0)] = 0.0
    return ratio


def check_threshold(value: Any, name: str = "threshold") -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a finite number in (0, 1] (not a bool)."""
    finite = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not finite or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def audit_copying(
    train: np.ndarray | torch.Tensor,
    generated: np.ndarray | torch.Tensor,
    test: np.ndarray | torch.Tensor,
    *,
    cells: int | None = None,
    min_cell_size: int = 20,
    threshold: float = 0.5,
    seed: int = 0,
    chunk_rows: int = _CHUNK_ROWS,
) -> CopyingAudit:
    """Test generated images for copies of the training images, from the three sets' features.

    See the module description for the test, its statistic ``Z_U`` and the per-image ratio.

    Parameters
    ----------
    train : array ``[N_T, D]``
        Features of the generator's training images.
    generated : array ``[M, D]``
        Features of the generated images.
    test : array ``[N_P, D]``
        Features of held-out real images of the same distribution, never shown to the generator.
    cells : int, optional
        k of the k-means partition of ``train``; default ``N_P // 50`` (about 50 held-out images a cell),
        between 1 and 20. At most ``N_T``.
    min_cell_size : int
        Fewest generated images a cell needs to count (Meehan et al. use 20).
    threshold : float
        A generated image whose ratio is below it is flagged as a likely copy; in (0, 1].
    seed : int
        Seed of the k-means initialisation.
    chunk_rows : int
        Query rows per chunk of the nearest-neighbour search.

    Returns
    -------
    CopyingAudit

    Raises
    ------
    ValueError
        For an empty set, sets of different feature widths, non-finite features, fewer than 2 training images,
        ``cells`` larger than the training set, or a threshold outside (0, 1].
    """
    t = _features(train, "train features")
    q = _features(generated, "generated features")
    p = _features(test, "test features")
    widths = {"train": t.shape[1], "generated": q.shape[1], "test": p.shape[1]}
    if len(set(widths.values())) > 1:
        raise ValueError(f"the feature sets differ in width: {widths}")
    if len(t) < 2:
        raise ValueError(f"the training set has {len(t)} image(s); the audit needs at least 2")
    if cells is None:
        cells = min(max(len(p) // _TEST_PER_CELL, 1), _MAX_DEFAULT_CELLS, len(t))
    cells = check_int(cells, "cells", 1)
    if cells > len(t):
        raise ValueError(f"cells={cells} is more than the {len(t)} training images it partitions")
    min_cell_size = check_int(min_cell_size, "min_cell_size", 1)
    threshold = check_threshold(threshold)
    seed = check_int(seed, "seed", 0)

    # One index of the training set serves all three searches.
    training = NearestNeighbourIndex(t, chunk_rows=chunk_rows)
    d_generated, nearest = training.query(q)
    d_test, nearest_test = training.query(p)
    spacing, _ = training.query(t, exclude_self=True)

    if cells == 1:
        centres = t.mean(axis=0, keepdims=True)
    else:
        with warnings.catch_warnings():
            # An empty cluster is kept as a cell with no training image, and reported as skipped.
            warnings.simplefilter("ignore")
            centres, _ = kmeans2(t, cells, minit="++", seed=np.random.default_rng(seed))
    cell_of = {
        name: nearest_neighbours(points, centres, chunk_rows=chunk_rows)[1]
        for name, points in (("train", t), ("generated", q), ("test", p))
    }
    results = []
    weighted, weights = 0.0, 0.0
    for k in range(cells):
        in_generated = cell_of["generated"] == k
        in_test = cell_of["test"] == k
        counts = (int((cell_of["train"] == k).sum()), int(in_test.sum()), int(in_generated.sum()))
        skipped = None
        if counts[2] < min_cell_size:
            skipped = f"fewer than {min_cell_size} generated images"
        elif counts[1] == 0:
            skipped = "no held-out image"
        zu = None
        if skipped is None:
            _, zu = mann_whitney_z(d_generated[in_generated], d_test[in_test])
            share = counts[1] / len(p)
            weighted += share * zu
            weights += share
        results.append(CellResult(*counts, zu=zu, skipped=skipped))
    zu_total = weighted / weights if weights > 0 else math.nan
    ratio = _ratio(d_generated, spacing[nearest])
    test_ratio = _ratio(d_test, spacing[nearest_test])
    return CopyingAudit(
        zu=float(zu_total),
        cells=tuple(results),
        threshold=float(threshold),
        nearest_train=nearest,
        distance=d_generated,
        ratio=ratio,
        flagged=ratio < threshold,
        generated_cell=cell_of["generated"],
        test_cell=cell_of["test"],
        test_flagged_fraction=float((test_ratio < threshold).mean()),
        n_train=len(t),
        n_test=len(p),
    )


def save_copy_pairs(
    path: str | os.PathLike[str],
    audit: CopyingAudit,
    generated: ImageSetSource,
    train: ImageSetSource,
    *,
    count: int = 16,
    columns: int = 4,
    tile: int = 128,
    value_range: tuple[float, float] = (-1, 1),
) -> Path:
    """Write a PNG of the generated images closest to a training image, each beside that training image.

    Pairs go lowest ratio first, left to right and top to bottom, ``columns`` pairs a row: the generated image on
    the left, its nearest training image on the right, and under them the ratio (``flagged`` when below the
    threshold) and both indices. A person looking at it decides whether the closest pairs are copies (the same
    anatomy, the same artefacts and markers) or merely alike.

    Parameters
    ----------
    path : str or os.PathLike
        Destination PNG, written atomically.
    audit : CopyingAudit
        From :func:`audit_copying` or :meth:`~medgan_aug.metrics.FIDScorer.copying_audit` on these sets.
    generated, train : str, os.PathLike, torch.Tensor or torch.utils.data.Dataset
        The audited generated and training images, in the order they were audited (as
        :meth:`~medgan_aug.metrics.FIDScorer.score` reads them).
    count : int
        Pairs shown (fewer when there are fewer generated images).
    columns : int
        Pairs per row.
    tile : int
        Side of each image in the grid, in pixels.
    value_range : pair of numbers
        The range float pixels of tensors and datasets are read in.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If the sets do not have the audit's sizes.
    """
    for name, value in (("count", count), ("columns", columns), ("tile", tile)):
        check_int(value, name, 1)
    fakes, reals = ImageSet(generated, "generated", value_range), ImageSet(train, "train", value_range)
    if len(fakes) != len(audit.ratio) or len(reals) != audit.n_train:
        raise ValueError(
            f"the audit covers {len(audit.ratio)} generated and {audit.n_train} training images, but the sets given "
            f"hold {len(fakes)} and {len(reals)}: pass the sets that were audited"
        )
    pairs = audit.most_similar(count)
    caption = 28
    rows = math.ceil(len(pairs) / columns)
    gap = 6
    width, height = columns * (2 * tile + gap), rows * (tile + caption)
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)

    def picture(image_set: ImageSet, index: int) -> Image.Image:
        image = Image.fromarray(image_set[index].permute(1, 2, 0).numpy(), mode="RGB")
        # Enlarged pixels stay sharp squares, so that a person compares the pixels themselves.
        enlarging = tile >= max(image.size)
        return image.resize((tile, tile), Image.Resampling.NEAREST if enlarging else Image.Resampling.LANCZOS)

    for k, (fake_index, train_index, ratio) in enumerate(pairs):
        x, y = (k % columns) * (2 * tile + gap), (k // columns) * (tile + caption)
        sheet.paste(picture(fakes, fake_index), (x, y))
        sheet.paste(picture(reals, train_index), (x + tile, y))
        verdict = " flagged" if ratio < audit.threshold else ""
        draw.text((x + 2, y + tile + 1), f"ratio {ratio:.3f}{verdict}", fill="red" if verdict else "black")
        draw.text((x + 2, y + tile + 14), f"gen {fake_index} | train {train_index}", fill="black")
    return atomic_write(path, lambda f: sheet.save(f, format="PNG"))
