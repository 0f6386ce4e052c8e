"""Argument checks shared by several parts of the library."""

from __future__ import annotations

import numbers
from typing import Any


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an integer >= 1 (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_int(value: Any, name: str, minimum: int) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an integer >= ``minimum`` (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
