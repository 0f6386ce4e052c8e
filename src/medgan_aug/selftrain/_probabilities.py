"""The check every consumer of a classifier's softmax output applies."""

from __future__ import annotations

import numpy as np

# Softmax outputs are summed in float32 by most frameworks; anything further off is probably logits.
ROW_SUM_TOLERANCE = 1e-3


def check_probability_rows(probs: np.ndarray, name: str) -> None:
    """Raise ValueError naming ``name`` unless every row of ``probs`` is a probability distribution."""
    if not probs.size:
        return
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError(f"{name} must be finite and in [0, 1] (were logits passed instead of softmax outputs?)")
    worst = float(np.abs(probs.sum(axis=1) - 1).max())
    if worst > ROW_SUM_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1 within {ROW_SUM_TOLERANCE} (worst is off by {worst:.3g})")
