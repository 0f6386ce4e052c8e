"""Old import paths that keep working, with a warning, for one release after a name moved."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping


def moved_names(module: str, moves: Mapping[str, str], removal: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that serves names moved to other modules, warning on each use.

    Parameters
    ----------
    module : str
        The old module, named in the warning and in the AttributeError for names it never had.
    moves : mapping of str to str
        Old name -> the module it now lives in (under the same name).
    removal : str
        The release that drops the old path.

    Returns
    -------
    callable
        ``__getattr__(name)`` for the old module.
    """

    def moved_attribute(name: str) -> object:
        if name not in moves:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(
            f"{module}.{name} moved to {moves[name]}.{name}; the old path goes in medgan-aug {removal}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(moves[name]), name)

    return moved_attribute
