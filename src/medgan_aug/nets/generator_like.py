"""What the library asks of a generator: this library's networks or anyone's.

Writing synthetic sets (:func:`~medgan_aug.generate.synthesize`), scoring
(:meth:`~medgan_aug.metrics.FIDScorer.score_generator`) and self-training
(:class:`~medgan_aug.selftrain.GeneratorPool`) accept any object that
satisfies :class:`GeneratorLike`: a generator of your own, a wrapped
diffusion sampler, a network from another library.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Protocol, runtime_checkable

import torch

from .architectures import ARCHITECTURES

__all__ = [
    "NOISE_MODES",
    "GeneratorLike",
    "check_generator",
    "check_sampling",
    "generate_images",
    "generator_device",
    "generator_image_channels",
    "is_native_generator",
]

NOISE_MODES = ("const", "random", "none")
"""Per-pixel noise of this library's generators: fixed per layer, drawn anew, or off."""

# (attribute, smallest valid value)
_REQUIRED = (("z_dim", 1), ("c_dim", 0), ("img_resolution", 1), ("img_channels", 1))


@runtime_checkable
class GeneratorLike(Protocol):
    """A generator: ``G(z, c)`` maps latents (and one-hot labels) to images in [-1, 1].

    Attributes
    ----------
    z_dim : int
        Latent size; latents are ``[N, z_dim]`` float32 standard normal.
    c_dim : int
        Number of classes; ``c`` is ``[N, c_dim]`` one-hot float32, or None when 0.
    img_resolution : int
        Side ``R`` of the square output.
    img_channels : int
        Channels of the output ``[N, img_channels, R, R]``, floating point, in [-1, 1]. An optional
        ``mask_channels`` attribute (default 0) says how many of the last channels are segmentation masks
        (foreground where > 0).

    Notes
    -----
    Put an ``nn.Module`` generator in eval mode yourself; it runs under ``torch.no_grad`` on the device of its
    first parameter or buffer (a plain callable runs on the CPU).
    """

    z_dim: int
    c_dim: int
    img_resolution: int
    img_channels: int

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor: ...


def is_native_generator(G: object) -> bool:
    """Whether ``G`` is one of this library's generators (which take truncation and noise options)."""
    return isinstance(G, tuple(generator for generator, _ in ARCHITECTURES.values()))


def check_generator(G: Any, name: str = "G") -> None:
    """Raise a TypeError naming what ``G`` lacks to be a :class:`GeneratorLike`.

    Parameters
    ----------
    G : object
        The value to check.
    name : str
        Its name in the message.
    """
    needs = "z_dim, c_dim, img_resolution, img_channels and __call__(z, c)"
    for attribute, lowest in _REQUIRED:
        if not hasattr(G, attribute):
            raise TypeError(f"{name} ({type(G).__name__}) has no attribute {attribute!r}; a generator needs {needs}")
        value = getattr(G, attribute)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lowest:
            raise TypeError(f"{name}.{attribute} must be an integer >= {lowest}, got {value!r}")
    masks = getattr(G, "mask_channels", 0)
    if isinstance(masks, bool) or not isinstance(masks, numbers.Integral) or not 0 <= masks < G.img_channels:
        raise TypeError(f"{name}.mask_channels must be an integer in [0, img_channels), got {masks!r}")
    if not callable(G):
        raise TypeError(f"{name} ({type(G).__name__}) is not callable; a generator needs {needs}")


def check_sampling(G: Any, truncation_psi: float, noise_mode: str | None) -> None:
    """Raise a ValueError unless ``G`` can be sampled with this truncation and noise mode.

    Parameters
    ----------
    G : GeneratorLike
        The generator.
    truncation_psi : float
        Finite; other generators than this library's take only 1 (no truncation).
    noise_mode : {"const", "random", "none"} or None
        One of :data:`NOISE_MODES` for this library's generators (None: ``"const"``); other generators take
        only None, since they are called as ``G(z, c)``.
    """
    finite = not isinstance(truncation_psi, bool) and isinstance(truncation_psi, numbers.Real)
    if not finite or not math.isfinite(truncation_psi):
        raise ValueError(f"truncation_psi must be a finite number, got {truncation_psi!r}")
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES} or None, got {noise_mode!r}")
    if is_native_generator(G):
        return
    if truncation_psi != 1:
        raise ValueError(
            f"truncation_psi={truncation_psi} applies to this library's generators; "
            f"{type(G).__name__} is called as G(z, c) and takes only truncation_psi=1"
        )
    if noise_mode is not None:
        raise ValueError(
            f"noise_mode={noise_mode!r} applies to this library's generators; "
            f"{type(G).__name__} is called as G(z, c) and takes only noise_mode=None"
        )


def generator_image_channels(G: Any, need: str) -> int:
    """The channels of the images ``G`` makes (its outputs but the masks), which must be 1 or 3.

    Parameters
    ----------
    G : GeneratorLike
        The generator, checked with :func:`check_generator`.
    need : str
        The end of the error message: what needs 1 or 3 channels, e.g. ``"the metrics need 1 or 3 channels"``.

    Returns
    -------
    int
        ``G.img_channels`` minus its ``mask_channels`` (0 if it has none).
    """
    check_generator(G)
    masks = getattr(G, "mask_channels", 0)
    channels = G.img_channels - masks
    if channels not in (1, 3):
        plus = f" (besides {masks} mask channel(s))" if masks else ""
        raise ValueError(f"the generator makes {channels}-channel images{plus}; {need}")
    return channels


def generator_device(G: Any) -> torch.device:
    """Where ``G`` runs: the device of its first parameter or buffer; the CPU for a plain callable."""
    if isinstance(G, torch.nn.Module):
        for tensor in (*G.parameters(), *G.buffers()):
            return tensor.device
    return torch.device("cpu")


def generate_images(
    G: Any, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1.0, noise_mode: str | None = None
) -> torch.Tensor:
    """``G``'s images for latents ``z`` and labels ``c``, checked: ``[N, img_channels, R, R]`` floating point.

    Parameters
    ----------
    G : GeneratorLike
        This library's generators get ``truncation_psi`` and ``noise_mode`` (None: ``"const"``) and leave their
        running average of ``w`` alone; any other generator is called as ``G(z, c)``.
    z, c : torch.Tensor
        Latents ``[N, z_dim]`` and one-hot labels ``[N, c_dim]`` (None when ``c_dim`` is 0).
    truncation_psi : float
        Truncation; other generators than this library's take only 1 (none).
    noise_mode : {"const", "random", "none"}, optional
        Per-pixel noise of this library's generators (None: ``"const"``); others take only None.

    Returns
    -------
    torch.Tensor
        The output, whose values the callers clip to [-1, 1].

    Raises
    ------
    ValueError
        For sampling options :func:`check_sampling` refuses, or an output of the wrong shape or dtype.
    """
    check_sampling(G, truncation_psi, noise_mode)
    if is_native_generator(G):
        mode = "const" if noise_mode is None else noise_mode
        output = G(z, c, truncation_psi=float(truncation_psi), noise_mode=mode, update_w_avg=False)
    else:
        output = G(z, c)
    expected = (z.shape[0], G.img_channels, G.img_resolution, G.img_resolution)
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != expected or not output.is_floating_point():
        got = f"{tuple(output.shape)} {output.dtype}" if isinstance(output, torch.Tensor) else type(output).__name__
        raise ValueError(
            f"{type(G).__name__}(z, c) must return floating-point images of shape {list(expected)} "
            f"([N, img_channels, img_resolution, img_resolution]), got {got}"
        )
    return output
