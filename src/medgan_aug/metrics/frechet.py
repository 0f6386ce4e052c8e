"""Fréchet distances between resampled feature sets: FID's bootstrap interval and its real-vs-real floor."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

__all__ = ["FLOOR_SPLITS", "FrechetResampler", "fid_interval", "fid_uncertainty"]

FLOOR_SPLITS = 5
"""Random splits of the real set that the real-vs-real floor averages over."""

# Above this the Gram matrix of all rows is not worth its memory, whatever it saves in time.
_GRAM_MAX_BYTES = 1 << 30
# Operation counts in units of one multiply-add of a matrix product: LAPACK's symmetric eigenvalues run at about a
# third of a matrix product's rate, its Cholesky factorisation at about half (measured with OpenBLAS, 2 cores).
_EIGVALSH = 4.0
_CHOLESKY = 2.0


def _distinct(n: int) -> int:
    """Expected number of distinct rows in a bootstrap resample of ``n`` rows."""
    return max(1, round(n * (1 - (1 - 1 / n) ** n)))


def _gram_cost(rows_a: int, rows_b: int) -> float:
    small, large = sorted((rows_a, rows_b))
    return 2.0 * small * small * large + _EIGVALSH * small**3 + 10.0 * (rows_a + rows_b) ** 2


def _covariance_cost(rows_a: int, rows_b: int, width: int) -> float:
    small, large = sorted((rows_a, rows_b))
    # Covariances are symmetric products (half a general one's work).
    cost = 1.0 * large * width * width
    if small <= width:
        return cost + 2.0 * small * width * width + 2.0 * small * small * width + _EIGVALSH * small**3
    return cost + 1.0 * small * width * width + (_CHOLESKY + 4.0 + _EIGVALSH) * width**3


def _sqrt_trace(product: np.ndarray) -> float:
    """Sum of the square roots of a symmetric positive semi-definite matrix's eigenvalues."""
    eigenvalues = np.linalg.eigvalsh(product)
    # Eigenvalues of a rank-deficient product scatter around zero by rounding; their square roots would add up.
    tolerance = max(float(eigenvalues[-1]), 0.0) * len(eigenvalues) * np.finfo(np.float64).eps
    return float(np.sqrt(eigenvalues[eigenvalues > tolerance]).sum())


class FrechetResampler:
    """FID between multisets of the rows of one feature matrix, cheap enough to repeat hundreds of times.

    A multiset is given by counts, one per row: a bootstrap resample counts each row as often as it was drawn, a
    subset counts its rows once. Its statistics are those of the rows repeated by their counts, as torch-fidelity
    computes them (``np.mean`` and ``np.cov``, denominator n - 1 for n rows in all). Two routes give the same
    distance, in float64:

    - ``"gram"``: from the Gram matrix of all rows, computed once. With A and B the centred rows of the two
      multisets, each scaled by the square root of its count and divided by sqrt(n - 1), the covariances are
      A^T A and B^T B, tr sqrt(S_a S_b) is the nuclear norm of A B^T, and A B^T, the means' distance and the
      traces are all sums over Gram entries. A call costs O(k_a k_b min(k_a, k_b)) for k_a and k_b distinct
      rows, whatever the feature width d.
    - ``"covariance"``: the d x d covariances; tr sqrt(S_a S_b) from the eigenvalues of R S_a R^T, where
      S_b = R^T R with R the transposed Cholesky factor of S_b, or B itself when it has at most d rows (or S_b
      is singular). O((k_a + k_b) d^2 + d^3) per call.

    Parameters
    ----------
    features : numpy.ndarray
        ``[N, D]`` features, one row per image.
    workload : sequence of (int, int, int)
        The distances to be asked for, as ``(distinct rows a, distinct rows b, number of calls)``; ``"auto"``
        picks the route with the fewer estimated operations for it, the Gram matrix's one-off product included,
        and never a Gram matrix over 1 GiB.
    route : {"auto", "gram", "covariance"}
        The route; the results agree up to rounding.

    Raises
    ------
    ValueError
        For features that are not a finite 2-D array with rows, or an unknown route.
    """

    def __init__(
        self,
        features: np.ndarray,
        workload: Sequence[tuple[int, int, int]] = (),
        route: Literal["auto", "gram", "covariance"] = "auto",
    ) -> None:
        rows = np.asarray(features, dtype=np.float64)
        if rows.ndim != 2 or len(rows) == 0 or not np.isfinite(rows).all():
            raise ValueError(f"features must be a finite 2-D array with rows, got shape {list(rows.shape)}")
        if route not in ("auto", "gram", "covariance"):
            raise ValueError(f"route must be 'auto', 'gram' or 'covariance', got {route!r}")
        # Distances do not change under a common shift; centring keeps Gram entries close to the spread they encode.
        self._rows = rows - rows.mean(axis=0)
        count, width = rows.shape
        if route == "auto":
            gram = 2.0 * count * count * width + sum(calls * _gram_cost(a, b) for a, b, calls in workload)
            covariance = sum(calls * _covariance_cost(a, b, width) for a, b, calls in workload)
            fits = 8 * count * count <= _GRAM_MAX_BYTES
            route = "gram" if fits and gram < covariance else "covariance"
        self.route = route
        self._gram: np.ndarray | None = None
        self._norms: np.ndarray | None = None
        if route == "gram":
            self._gram = self._rows @ self._rows.T
            self._norms = self._gram.diagonal().copy()

    def _multiset(self, counts: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, float]:
        counts = np.asarray(counts)
        if counts.shape != (len(self._rows),) or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise ValueError(f"{name} must be {len(self._rows)} non-negative integer counts, one per row")
        index = np.flatnonzero(counts)
        weights = counts[index].astype(np.float64)
        total = float(weights.sum())
        if total < 2:
            raise ValueError(f"{name} must count at least 2 rows in all, got {total:g}")
        return index, weights, total

    def distance(self, counts_a: np.ndarray, counts_b: np.ndarray) -> float:
        """Return the FID between the multisets of rows counted by ``counts_a`` and ``counts_b``.

        Parameters
        ----------
        counts_a, counts_b : numpy.ndarray
            Non-negative integer counts ``[N]``, at least 2 in all for each.

        Returns
        -------
        float
            ``|mu_a - mu_b|^2 + tr S_a + tr S_b - 2 tr sqrt(S_a S_b)``.

        Raises
        ------
        ValueError
            For counts of another length, negative or non-integer counts, or fewer than 2 rows counted.
        """
        a, b = self._multiset(counts_a, "counts_a"), self._multiset(counts_b, "counts_b")
        return self._gram_distance(a, b) if self.route == "gram" else self._covariance_distance(a, b)

    def _gram_distance(self, a: tuple[np.ndarray, np.ndarray, float], b: tuple[np.ndarray, np.ndarray, float]) -> float:
        assert self._gram is not None and self._norms is not None
        (rows_a, weights_a, n_a), (rows_b, weights_b, n_b) = a, b
        p_a, p_b = weights_a / n_a, weights_b / n_b
        gram_ab = self._gram[np.ix_(rows_a, rows_b)]
        # Dot products of each row with the other multiset's mean, and of the means with each other.
        rows_a_mean_b, mean_a_rows_b = gram_ab @ p_b, p_a @ gram_ab
        mean_ab = float(p_a @ rows_a_mean_b)
        mean_aa = float(p_a @ self._gram[np.ix_(rows_a, rows_a)] @ p_a)
        mean_bb = float(p_b @ self._gram[np.ix_(rows_b, rows_b)] @ p_b)
        trace_a = (float(weights_a @ self._norms[rows_a]) - n_a * mean_aa) / (n_a - 1)
        trace_b = (float(weights_b @ self._norms[rows_b]) - n_b * mean_bb) / (n_b - 1)
        cross = gram_ab - rows_a_mean_b[:, None] - mean_a_rows_b[None, :] + mean_ab
        cross *= np.sqrt(weights_a / (n_a - 1))[:, None]
        cross *= np.sqrt(weights_b / (n_b - 1))[None, :]
        product = cross @ cross.T if len(rows_a) <= len(rows_b) else cross.T @ cross
        return mean_aa + mean_bb - 2 * mean_ab + trace_a + trace_b - 2 * _sqrt_trace(product)

    def _covariance_distance(
        self, a: tuple[np.ndarray, np.ndarray, float], b: tuple[np.ndarray, np.ndarray, float]
    ) -> float:
        # b, the multiset with fewer distinct rows, gives the factor: R S_a R^T is then as small as it can be.
        if len(a[0]) < len(b[0]):
            a, b = b, a
        (rows_a, weights_a, n_a), (rows_b, weights_b, n_b) = a, b
        centred_a, centred_b = self._rows[rows_a], self._rows[rows_b]
        mean_a, mean_b = weights_a @ centred_a / n_a, weights_b @ centred_b / n_b
        centred_a -= mean_a
        centred_b -= mean_b
        scaled_a = centred_a * np.sqrt(weights_a / (n_a - 1))[:, None]
        # One array times its own transpose: numpy takes BLAS's symmetric product, half the work of a general one.
        covariance_a = scaled_a.T @ scaled_a
        factor = centred_b * np.sqrt(weights_b / (n_b - 1))[:, None]
        trace_b = float((factor * factor).sum())
        if len(rows_b) > self._rows.shape[1]:
            # A singular covariance (a constant feature, say) has no Cholesky factor; the weighted rows remain one.
            with contextlib.suppress(np.linalg.LinAlgError):
                factor = np.linalg.cholesky(factor.T @ factor).T
        difference = mean_a - mean_b
        return float(
            difference @ difference
            + np.trace(covariance_a)
            + trace_b
            - 2 * _sqrt_trace(factor @ covariance_a @ factor.T)
        )


def fid_interval(point: float, replicates: np.ndarray) -> tuple[float, float, float]:
    """Return the bootstrap standard deviation and 95 % interval of an FID.

    The 2.5th and 97.5th percentiles of the replicates are shifted down by the bootstrap bias (the replicates'
    mean minus ``point``): resampled sets repeat images, which raises their FID, so the percentile interval is
    re-centred on the point estimate. The lower bound is clipped at 0, below which FID cannot lie.

    Parameters
    ----------
    point : float
        The FID of the sets themselves.
    replicates : numpy.ndarray
        FIDs of bootstrap resamples of both sets, at least 2.

    Returns
    -------
    tuple of float
        ``(std, low, high)``: the replicates' standard deviation (n - 1 denominator) and the interval.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    bias = float(replicates.mean()) - point
    low, high = np.percentile(replicates, [2.5, 97.5]) - bias
    return float(replicates.std(ddof=1)), max(float(low), 0.0), float(high)


def fid_uncertainty(
    fake: np.ndarray,
    real: np.ndarray,
    point: float,
    *,
    resamples: int,
    floor: bool,
    seed: int,
    progress: bool = False,
) -> dict[str, float]:
    """The bootstrap interval of an FID, and the real-vs-real floor with the synthetic FID at the floor's size.

    The bootstrap draws ``resamples`` pairs of resamples, the fake rows and the real rows each drawn with
    replacement, independently, to their own size; see :func:`fid_interval`. The floor is the FID between two
    disjoint random halves A and B of the real set, each of ``m = min(n_fake, n_real // 2)`` images, averaged over
    :data:`FLOOR_SPLITS` random splits: the FID that two sets of one distribution score at this number of images.
    FID's bias depends on the set sizes, so the same splits also give the FID of ``m`` random generated images
    against the same half B: the number to hold against the floor, like for like. It needs ``m >= 2``.

    Parameters
    ----------
    fake, real : numpy.ndarray
        Features ``[N, D]`` of the generated and the real images.
    point : float
        The FID of the two sets.
    resamples : int
        Bootstrap resamples; 0 for no interval.
    floor : bool
        Whether to compute the floor.
    seed : int
        Seeds the resamples and the splits (each its own stream).
    progress : bool
        Show a progress bar over the resamples (minutes for thousands of images on a CPU).

    Returns
    -------
    dict of str to float
        ``"fid_std"``, ``"fid_ci_low"``, ``"fid_ci_high"`` with resamples; with the floor ``"fid_real_floor"``
        and ``"fid_matched"`` (means over the splits), ``"fid_real_floor_std"`` and ``"fid_matched_std"`` (their
        spread over the splits) and ``"fid_floor_images"`` (m).
    """
    n_fake, n_real = len(fake), len(real)
    images = min(n_fake, n_real // 2)
    floor = floor and images >= 2
    workload = []
    if resamples:
        workload.append((_distinct(n_fake), _distinct(n_real), resamples))
    if floor:
        workload.append((images, images, 2 * FLOOR_SPLITS))
    if not workload:
        return {}
    stacked = np.concatenate([fake, real])
    resampler = FrechetResampler(stacked, workload)
    bootstrap_rng, split_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))

    def counts(rows: np.ndarray, offset: int) -> np.ndarray:
        return np.bincount(rows + offset, minlength=len(stacked))

    results: dict[str, float] = {}
    if resamples:
        replicates = np.array(
            [
                resampler.distance(
                    counts(bootstrap_rng.integers(n_fake, size=n_fake), 0),
                    counts(bootstrap_rng.integers(n_real, size=n_real), n_fake),
                )
                for _ in tqdm(range(resamples), desc="FID bootstrap", unit="resample", disable=not progress)
            ]
        )
        std, low, high = fid_interval(point, replicates)
        results.update(fid_std=std, fid_ci_low=low, fid_ci_high=high)
    if floor:
        floors, matched = [], []
        for _ in range(FLOOR_SPLITS):
            order = split_rng.permutation(n_real)
            half_b = counts(order[images : 2 * images], n_fake)
            floors.append(resampler.distance(counts(order[:images], n_fake), half_b))
            matched.append(resampler.distance(counts(split_rng.permutation(n_fake)[:images], 0), half_b))
        results.update(
            fid_real_floor=float(np.mean(floors)),
            fid_real_floor_std=float(np.std(floors, ddof=1)),
            fid_matched=float(np.mean(matched)),
            fid_matched_std=float(np.std(matched, ddof=1)),
            fid_floor_images=float(images),
        )
    return results
