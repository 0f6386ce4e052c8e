"""The latent and label conventions: which seed and class make which generator input.

Image ``i`` of a set is generated from seed ``s``: ``z = RandomState(s).randn(1, z_dim)``, the convention of
StyleGAN2-ADA's ``generate.py``, so a seed names the same latent here and in the reference tooling; a class
index ``k`` becomes the one-hot row ``c[k] = 1`` of length ``c_dim``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import torch

from ..nets.generator_like import GeneratorLike

__all__ = ["MAX_SEED", "class_indices", "generator_inputs"]

MAX_SEED = 2**32 - 1
"""The largest seed: numpy's ``RandomState`` takes seeds in [0, 2**32 - 1]."""


def class_indices(classes: int | Sequence[int] | None, n: int, c_dim: int) -> list[int | None]:
    """The class index of each of ``n`` images, spread as :func:`synthesize` spreads them.

    Parameters
    ----------
    classes : int, sequence of int or None
        One class for all images, or several among which the images are spread evenly in the order given
        (``n // len(classes)`` each, one more for each of the first ``n % len(classes)``); None for an
        unconditional generator.
    n : int
        Number of images.
    c_dim : int
        The generator's number of classes (0: unconditional).

    Returns
    -------
    list of int or None
        ``n`` class indices, or ``n`` Nones for an unconditional generator; a ValueError for classes out of range,
        repeated, missing for a conditional generator or given for an unconditional one.
    """
    if classes is None:
        if c_dim > 0:
            raise ValueError(f"the generator is conditional (c_dim={c_dim}): pass classes (a class index or a list)")
        return [None] * n
    if c_dim == 0:
        raise ValueError(f"classes={classes!r} given, but the generator is unconditional (c_dim=0)")
    wanted = [classes] if isinstance(classes, numbers.Integral) else list(classes)
    if not wanted:
        raise ValueError("classes must not be empty")
    for k in wanted:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 0 <= k < c_dim:
            raise ValueError(f"class {k!r} is out of range: the generator has classes 0 to {c_dim - 1}")
    if len(set(wanted)) != len(wanted):
        raise ValueError(f"classes lists a class twice: {wanted}")
    per_class, extra = divmod(n, len(wanted))
    return [int(k) for i, k in enumerate(wanted) for _ in range(per_class + (i < extra))]


def generator_inputs(
    G: GeneratorLike, seeds: Sequence[int], labels: Sequence[int | None], device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The latents and one-hot labels that make the images of ``seeds`` and class indices ``labels``.

    Latent ``i`` is ``RandomState(seeds[i]).randn(1, G.z_dim)``, StyleGAN2-ADA's ``generate.py`` convention.

    Parameters
    ----------
    G : GeneratorLike
        The generator, for ``z_dim`` and ``c_dim``.
    seeds : sequence of int
        One seed per image, in [0, 2**32 - 1].
    labels : sequence of int or None
        One class index per image (in ``range(G.c_dim)``), or None each for an unconditional generator, as
        checked by the callers.
    device : str or torch.device
        Where to put the tensors.

    Returns
    -------
    (torch.Tensor, torch.Tensor or None)
        float32 ``z [N, z_dim]`` and ``c [N, c_dim]``, or None for ``c`` when ``G.c_dim`` is 0.
    """
    z = np.concatenate([np.random.RandomState(seed).randn(1, G.z_dim) for seed in seeds])
    z = torch.from_numpy(z).to(device, torch.float32)
    if G.c_dim == 0:
        return z, None
    c = torch.zeros(len(seeds), G.c_dim, device=device)
    c[torch.arange(len(seeds)), torch.tensor(list(labels))] = 1
    return z, c
