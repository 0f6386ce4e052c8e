"""Map raw intensities (CT numbers, 16-bit mammograms, ...) to [0, 1] and encode them as 8- or 16-bit pixels."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["IntensityWindow", "encode_pixels"]


def _real_array(values: object, name: str) -> np.ndarray:
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    return array


# Elements per pass of the percentile search: its temporaries stay a few MB whatever the volume's size.
_CHUNK = 1 << 18
_BINS = 4096


def _finite_chunks(values: np.ndarray) -> Iterator[np.ndarray]:
    for start in range(0, values.size, _CHUNK):
        chunk = values[start : start + _CHUNK]
        yield chunk[np.isfinite(chunk)] if chunk.dtype.kind == "f" else chunk


def _binned(values: np.ndarray, low: float, scale: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Finite values chunk by chunk with their bin among ``_BINS`` equal bins from ``low``."""
    for chunk in _finite_chunks(values):
        yield chunk, np.minimum(((chunk.astype(np.float64) - low) * scale).astype(np.int64), _BINS - 1)


def _kth_smallest(values: np.ndarray, ranks: Sequence[int], low: float, high: float) -> list[float]:
    """Exact order statistics (0-based ``ranks`` among the finite values) without copying ``values``.

    A histogram pass finds the bin holding each rank; then only that bin's values are gathered and sorted (or,
    when all of them are equal, as in the background of a scan, not gathered at all).
    """
    scale = _BINS / (high - low) if high > low else 0.0
    counts = np.zeros(_BINS, dtype=np.int64)
    for _, bins in _binned(values, low, scale):
        counts += np.bincount(bins, minlength=_BINS)
    before = np.concatenate([[0], np.cumsum(counts)])
    wanted = {rank: int(np.searchsorted(before, rank, side="right")) - 1 for rank in ranks}
    needed = sorted(set(wanted.values()))
    smallest = dict.fromkeys(needed, math.inf)
    largest = dict.fromkeys(needed, -math.inf)
    for chunk, bins in _binned(values, low, scale):
        for b in needed:
            members = chunk[bins == b]
            if members.size:
                smallest[b], largest[b] = min(smallest[b], float(members.min())), max(largest[b], float(members.max()))
    gathered: dict[int, list[np.ndarray]] = {b: [] for b in needed if smallest[b] != largest[b]}
    if gathered:
        for chunk, bins in _binned(values, low, scale):
            for b, members in gathered.items():
                members.append(chunk[bins == b])
    results = []
    for rank, b in wanted.items():
        if b not in gathered:
            results.append(smallest[b])
            continue
        members = np.concatenate(gathered[b])
        results.append(float(np.partition(members, rank - before[b])[rank - before[b]]))
    return results


def _percentiles(values: np.ndarray, percents: Sequence[float]) -> list[float]:
    """``numpy.percentile`` (linear method) of the finite values of a flat array, in bounded memory.

    ``numpy.percentile`` partitions a copy of its input: one more volume at the peak of slicing a 3-D volume.
    """
    count, low, high = 0, math.inf, -math.inf
    for chunk in _finite_chunks(values):
        if chunk.size:
            count += chunk.size
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    if count == 0:
        raise ValueError("no finite values to take percentiles of (empty image, empty mask or all NaN)")
    positions = [p / 100 * (count - 1) for p in percents]
    ranks = sorted({r for position in positions for r in (math.floor(position), math.ceil(position))})
    ordered = dict(zip(ranks, _kth_smallest(values, ranks, low, high), strict=True))
    results = []
    for position in positions:
        below, above = ordered[math.floor(position)], ordered[math.ceil(position)]
        results.append(below + (position - math.floor(position)) * (above - below))
    return results


def _is_number(value: object) -> bool:
    # bool is an int subclass, but True as a window end is almost certainly a mistake.
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class IntensityWindow:
    """Linear map of raw intensities ``[low, high]`` to [0, 1], clipped.

    Parameters
    ----------
    low : float
        Raw intensity that maps to 0; anything below is clipped to 0.
    high : float
        Raw intensity that maps to 1; anything above is clipped to 1. Both must be finite and ``high > low``.
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if not _is_number(value):
                raise TypeError(f"window {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"window {name} must be finite, got {value}")
            # Plain floats keep the dataclass's repr, equality and JSON output free of numpy scalar types.
            object.__setattr__(self, name, float(value))
        if not self.high > self.low:
            raise ValueError(f"window high must be greater than low, got low={self.low}, high={self.high}")

    @classmethod
    def from_center_width(cls, center: float, width: float) -> IntensityWindow:
        """Build the window from a DICOM-style centre (level) and width: ``[center - width/2, center + width/2]``.

        Parameters
        ----------
        center : float
            Raw intensity at the middle of the window (e.g. 40 HU for a CT soft-tissue window).
        width : float
            Positive width of the window in raw units (e.g. 400 HU).

        Returns
        -------
        IntensityWindow
        """
        for name, value in (("center", center), ("width", width)):
            if not _is_number(value):
                raise TypeError(f"window {name} must be a number, got {value!r}")
        if not width > 0:
            raise ValueError(f"window width must be positive, got {width}")
        center, width = float(center), float(width)
        return cls(center - width / 2, center + width / 2)

    @classmethod
    def from_percentiles(
        cls, values: np.ndarray, low: float = 0.5, high: float = 99.5, mask: np.ndarray | None = None
    ) -> IntensityWindow:
        """Build the window from percentiles of the image's intensities (robust to a few outlier pixels).

        Parameters
        ----------
        values : numpy.ndarray
            Raw intensities, any shape. Non-finite values are ignored.
        low, high : float
            Percentiles in [0, 100] (``low < high``) that become the window's low and high end,
            computed with :func:`numpy.percentile` (linear interpolation).
        mask : numpy.ndarray, optional
            Boolean array of the shape of ``values``; only the selected values count (e.g. the body,
            excluding the air around it).

        Returns
        -------
        IntensityWindow
            When the two percentiles coincide (a constant image), the window ``[v, v + 1]`` starting at
            that value, so that the image maps to 0 instead of dividing by zero.
        """
        array = _real_array(values, "values")
        for name, value in (("low", low), ("high", high)):
            if not (_is_number(value) and 0 <= value <= 100):
                raise ValueError(f"percentile {name} must be a number in [0, 100], got {value!r}")
        if not low < high:
            raise ValueError(f"percentile low must be below high, got low={low}, high={high}")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.dtype != bool:
                raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
            if mask.shape != array.shape:
                raise ValueError(f"mask has shape {mask.shape}, but values have shape {array.shape}")
            array = array[mask]
        bottom, top = _percentiles(array.reshape(-1), (low, high))
        if top <= bottom:
            return cls(bottom, bottom + 1.0)
        return cls(bottom, top)

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Map raw intensities to [0, 1]: ``clip((values - low) / (high - low), 0, 1)``.

        Parameters
        ----------
        values : numpy.ndarray
            Raw intensities, any shape and real dtype.

        Returns
        -------
        numpy.ndarray
            float32 array of the same shape; NaN stays NaN (:func:`encode_pixels` rejects it).
        """
        array = _real_array(values, "values")
        # 8/16-bit integers and float32 are exact in float32; wider integers and float64 keep float64 until the end.
        work = np.result_type(array.dtype, np.float32)
        scaled = (array.astype(work, copy=False) - work.type(self.low)) / work.type(self.high - self.low)
        return np.clip(scaled, 0, 1).astype(np.float32, copy=False)


def encode_pixels(image: np.ndarray, bits: Literal[8, 16] = 8, rgb: bool = False) -> np.ndarray:
    """Quantise a [0, 1] image to unsigned 8- or 16-bit pixels, ready for :class:`DatasetWriter`.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image in [0, 1] (values outside are clipped), shape ``[H, W]`` (grayscale) or
        ``[H, W, 3]`` (colour).
    bits : {8, 16}
        Bits per channel of the result.
    rgb : bool
        Repeat a grayscale image into three channels (``[H, W, 3]``); colour images stay colour either way.

    Returns
    -------
    numpy.ndarray
        uint8 or uint16 array, ``round(x * (2**bits - 1))`` with ties rounded to even.

    Raises
    ------
    ValueError
        If the image contains NaN, has another shape, or ``bits`` is not 8 or 16.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    array = _real_array(image, "image")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"image must have shape [H, W] or [H, W, 3], got {array.shape}")
    # float64 makes x * (2**bits - 1) exact for float32 input, so rounding ties are real ties.
    array = array.astype(np.float64)
    if np.isnan(array).any():
        raise ValueError("image contains NaN; map raw intensities with an IntensityWindow first")
    levels = np.rint(np.clip(array, 0, 1) * (2**bits - 1))
    pixels = levels.astype(np.uint8 if bits == 8 else np.uint16)
    if rgb and pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return pixels
