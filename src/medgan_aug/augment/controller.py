"""The ADA feedback loop: tune the augmentation probability from the discriminator's overfitting."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from .adaptive import AdaptiveAugment

__all__ = ["AdaController"]


class AdaController:
    """Adjust ``augment.p`` so that the overfitting heuristic ``r_t`` stays at ``target``.

    ``r_t = E[sign(D(real))]``: 0 when the discriminator cannot tell reals
    from fakes, 1 when it is sure of every real image, i.e. overfits. A WGAN
    critic's values have no fixed zero (its loss ignores a constant shift), so
    for it the trainer passes an ``offset``, the mean critic value of the
    generated images of the same step: ``r_t = E[sign(D(real) - offset)]``
    then measures how many reals score above the average fake. Every
    ``interval`` observed minibatches, ``p`` moves by
    ``sign(r_t - target) * images / (speed_kimg * 1000)``, where ``images``
    is the number of real images observed since the last update (batch x
    interval, summed over processes), so that ``p`` can go from 0 to 1 in
    ``speed_kimg`` thousand images.

    Parameters
    ----------
    augment : AdaptiveAugment
        The pipeline whose ``p`` is tuned.
    target : float, optional
        Target ``r_t`` (0.6 in the paper); ``None`` keeps ``p`` fixed and only measures ``r_t``.
    interval : int
        Minibatches between updates.
    speed_kimg : float
        Thousands of images for ``p`` to rise from 0 to 1.
    """

    def __init__(
        self,
        augment: AdaptiveAugment,
        target: float | None = 0.6,
        interval: int = 4,
        speed_kimg: float = 500.0,
    ) -> None:
        if target is not None and not 0 <= target <= 1:
            raise ValueError(f"target must be in [0, 1] or None, got {target}")
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        if speed_kimg <= 0:
            raise ValueError(f"speed_kimg must be > 0, got {speed_kimg}")
        self.augment = augment
        self.target = target
        self.interval = interval
        self.speed_kimg = speed_kimg
        self.r_t: float | None = None
        self._pending: torch.Tensor | None = None
        self._calls = 0

    @property
    def p(self) -> float:
        """The current augmentation probability."""
        return float(self.augment.p)

    def observe(self, real_logits: torch.Tensor, offset: torch.Tensor | float = 0.0) -> None:
        """Record the discriminator's logits on a minibatch of real images; update every ``interval`` calls.

        In a distributed run every process must call this equally often: the
        update all-reduces the statistics.

        Parameters
        ----------
        real_logits : torch.Tensor
            Logits of real images.
        offset : torch.Tensor or float
            Subtracted from the logits before their signs are taken (0 for
            discriminators trained with a logistic or hinge loss).
        """
        signs = (real_logits.detach() - offset).sign().double()
        stats = torch.stack([signs.sum(), torch.tensor(signs.numel(), dtype=torch.float64, device=signs.device)])
        self._pending = stats if self._pending is None else self._pending + stats
        self._calls += 1
        if self._calls % self.interval == 0:
            self._update()

    def _update(self) -> None:
        stats = self._pending
        self._pending = None
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(stats)
        total, images = stats.tolist()
        if images == 0:
            return
        self.r_t = total / images
        if self.target is not None:
            direction = (self.r_t > self.target) - (self.r_t < self.target)
            step = direction * images / (self.speed_kimg * 1000)
            self.augment.set_p(min(max(self.p + step, 0.0), 1.0))

    def state_dict(self) -> dict[str, Any]:
        """Counters, pending statistics and the last ``r_t`` (``p`` is in the pipeline's state dict)."""
        pending = None if self._pending is None else self._pending.tolist()
        return {"r_t": self.r_t, "calls": self._calls, "pending": pending}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.r_t = state["r_t"]
        self._calls = int(state["calls"])
        pending = state["pending"]
        device = self.augment.p.device
        self._pending = None if pending is None else torch.tensor(pending, dtype=torch.float64, device=device)
