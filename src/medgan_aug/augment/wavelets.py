"""Wavelet filters behind ADA's geometric resampling and image-space filtering."""

from __future__ import annotations

import numpy as np

__all__ = ["SYM2", "SYM6", "band_filter_bank"]

# Scaling (low-pass decomposition) coefficients of the Daubechies symlets, as
# tabulated e.g. by PyWavelets' ``Wavelet(name).dec_lo``; they sum to sqrt(2).
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)


def band_filter_bank(wavelet: tuple[float, ...] = SYM2, num_bands: int = 4) -> np.ndarray:
    """Symmetric filters splitting an image into octave bands that sum back to the image.

    With ``lo = H(z) H(1/z) / 2`` and ``hi = H(-z) H(-1/z) / 2`` of an
    orthonormal wavelet ``H`` (so ``lo + hi`` is a unit impulse), band 0 is
    ``lo`` applied at every octave, and band ``i`` is ``hi`` at octave
    ``num_bands - i`` followed by ``lo`` at the coarser ones. Band
    ``num_bands - 1`` is the highest frequencies; the rows sum to an impulse.

    Parameters
    ----------
    wavelet : tuple of float
        Low-pass decomposition coefficients.
    num_bands : int
        Number of bands.

    Returns
    -------
    numpy.ndarray
        ``[num_bands, taps]`` float64, each row a symmetric 1-D filter.
    """
    h = np.asarray(wavelet, dtype=np.float64)
    g = h * (-1.0) ** np.arange(h.size)
    lo = np.convolve(h, h[::-1]) / 2
    hi = np.convolve(g, g[::-1]) / 2
    bank = np.zeros([num_bands, 1])
    bank[0, 0] = 1
    for band in range(1, num_bands):
        # One octave coarser: stretch every filter by 2, then low-pass.
        stretched = np.zeros([num_bands, bank.shape[1] * 2 - 1])
        stretched[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo) for row in stretched])
        start = (bank.shape[1] - hi.size) // 2
        bank[band, start : start + hi.size] += hi
    return bank
