"""Exponential moving average of the generator's weights (the G_ema that is sampled and evaluated)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ema_beta", "update_ema"]


def ema_beta(batch: int, ema_kimg: float, cur_nimg: int, ema_rampup: float | None = None) -> float:
    """Decay per step so that the average has a half-life of ``ema_kimg`` thousand images.

    Parameters
    ----------
    batch : int
        Images per training step.
    ema_kimg : float
        Half-life in thousands of images.
    cur_nimg : int
        Images shown so far.
    ema_rampup : float, optional
        Cap the half-life at ``cur_nimg * ema_rampup`` images, so that early
        in training the average follows the fast-changing generator.

    Returns
    -------
    float
        ``0.5 ** (batch / half_life_images)``.
    """
    half_life = ema_kimg * 1000
    if ema_rampup is not None:
        half_life = min(half_life, cur_nimg * ema_rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``ema = beta * ema + (1 - beta) * model`` for parameters; buffers (w_avg, noise) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
