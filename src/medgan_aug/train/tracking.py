"""Periodic evaluation of the generator during training: the best snapshot so far and early stopping."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..metrics import FIDScorer

__all__ = ["MetricTracker"]


class MetricTracker:
    """When to score the EMA generator, which score is best, and when to stop for lack of progress.

    Parameters
    ----------
    scorer : FIDScorer
        The metrics to compute (the real statistics are cached when it has a ``cache_dir``). It must read floats
        as [-1, 1] (``value_range``'s default), the range of the generator's output and the training dataset. Build
        it with ``fid_bootstrap=0, fid_floor=False`` (as ``medgan-aug train --metrics`` does): evaluations compare
        FIDs at one fixed number of images with each other, so an interval and a floor would only cost time at
        every evaluation, and such a scorer does not warn about the small sets.
    every_ticks : int
        Ticks between evaluations; the last tick is always evaluated.
    num_samples : int
        Generated images per evaluation (the same latents every time, so scores are comparable).
    key : str
        Result to minimise when choosing the best snapshot, e.g. ``"fid"`` or ``"kid_mean"``.
    patience : int, optional
        Stop training after this many evaluations in a row without a new best; None never stops early.

    Raises
    ------
    ValueError
        For a scorer with another ``value_range`` or the ``"copying"`` metric, or a bad number.
    """

    def __init__(
        self,
        scorer: FIDScorer,
        *,
        every_ticks: int = 10,
        num_samples: int = 1000,
        key: str = "fid",
        patience: int | None = None,
    ) -> None:
        if scorer.value_range != (-1, 1):
            raise ValueError(
                f"the scorer reads floats as {scorer.value_range}, but the generator's images and the training "
                "dataset are in [-1, 1]: build it with the default value_range=(-1, 1)"
            )
        if "copying" in scorer.metrics:
            raise ValueError(
                "the copying audit needs held-out real images and compares sets, not snapshots: run it on the "
                "finished generator (FIDScorer.score(train, fake, test=...), medgan-aug score --metrics copying)"
            )
        if not isinstance(every_ticks, int) or every_ticks < 1:
            raise ValueError(f"every_ticks must be an int >= 1, got {every_ticks!r}")
        if not isinstance(num_samples, int) or num_samples < 2:
            raise ValueError(f"num_samples must be an int >= 2, got {num_samples!r}")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be None or an int >= 1, got {patience!r}")
        self.scorer = scorer
        self.every_ticks = every_ticks
        self.num_samples = num_samples
        self.key = key
        self.patience = patience
        self.best = math.inf
        self.best_kimg: float | None = None
        self.since_best = 0

    def due(self, tick: int, last: bool) -> bool:
        """Whether tick ``tick`` is evaluated (``last``: the run ends after it)."""
        return last or tick % self.every_ticks == 0

    def update(self, results: dict[str, float], kimg: float) -> bool:
        """Record one evaluation; returns whether it is a new best."""
        if self.key not in results:
            raise KeyError(f"the scorer's results have no {self.key!r} (got {sorted(results)}); choose key from them")
        value = results[self.key]
        if value < self.best:
            self.best, self.best_kimg, self.since_best = value, kimg, 0
            return True
        self.since_best += 1
        return False

    @property
    def should_stop(self) -> bool:
        """Whether ``patience`` evaluations in a row brought no new best."""
        return self.patience is not None and self.since_best >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """The best score, its kimg and the evaluations since, for resuming."""
        return {"key": self.key, "best": self.best, "best_kimg": self.best_kimg, "since_best": self.since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (ignored when it tracked another key)."""
        if state.get("key") != self.key:
            return
        self.best, self.best_kimg, self.since_best = float(state["best"]), state["best_kimg"], int(state["since_best"])
