"""Errors raised when a checkpoint cannot be loaded safely or does not fit a network."""

from __future__ import annotations

__all__ = ["CheckpointError", "StateDictMismatchError", "UnsafeCheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint file or state dict that cannot be loaded."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that asks for anything outside the loader's allow-list.

    Raised before the offending object is created, so nothing from the file runs.
    """


class StateDictMismatchError(CheckpointError):
    """A state dict whose keys or shapes differ from the network's.

    Attributes
    ----------
    missing : list of str
        Keys the network has and the state dict lacks.
    unexpected : list of str
        Keys the state dict has and the network lacks.
    mismatched : list of (str, tuple, tuple)
        ``(key, shape in the state dict, shape in the network)``.
    """

    def __init__(
        self,
        network: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        lines = [f"state dict does not fit {network}:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        for key, got, want in mismatched:
            lines.append(f"  {key}: shape {list(got)} in the state dict, {list(want)} in the network")
        super().__init__("\n".join(lines))
