"""Hooks into a GANTrainer run: your own logging, checks or exports at every tick, snapshot and the end.

A callback subclasses :class:`TrainerCallback` and overrides what it needs; the trainer calls them in the order
given, on the process that writes the run directory (rank 0).  :class:`TensorBoardCallback` writes the tick
statistics and sample grids as TensorBoard events.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .trainer import GANTrainer

__all__ = ["TensorBoardCallback", "TrainerCallback", "tensorboard_available"]


class TrainerCallback:
    """Base class of the trainer's hooks; every method does nothing unless overridden."""

    def on_tick(self, trainer: GANTrainer, stats: dict[str, Any]) -> None:
        """After each tick, with the row just appended to ``stats.jsonl`` (losses, ``p``, ``r_t``, img/s, ...)."""

    def on_images(self, trainer: GANTrainer, images: torch.Tensor, kimg: float) -> None:
        """After each sample grid, with its images: ``[N, C, H, W]`` as the generator made them, about [-1, 1]."""

    def on_snapshot(self, trainer: GANTrainer, path: Path) -> None:
        """After each training checkpoint is written, with its path."""

    def on_end(self, trainer: GANTrainer, checkpoint: Path) -> None:
        """When :meth:`~medgan_aug.train.GANTrainer.train` returns, with the last checkpoint."""


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write events (the ``tensorboard`` package is installed)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardCallback(TrainerCallback):
    """Write every tick's numbers as scalars and every sample grid as an image, against kimg.

    Parameters
    ----------
    log_dir : str or os.PathLike, optional
        Where the event files go; default ``<run directory>/tensorboard``.

    Raises
    ------
    ImportError
        If the ``tensorboard`` package is missing (``pip install medgan-aug[tensorboard]``).
    """

    def __init__(self, log_dir: str | Path | None = None) -> None:
        if not tensorboard_available():
            raise ImportError(
                "TensorBoardCallback needs the tensorboard package: pip install 'medgan-aug[tensorboard]'"
            )
        self.log_dir = None if log_dir is None else Path(log_dir)
        self._writer: Any = None

    def _writer_for(self, trainer: GANTrainer) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.log_dir or trainer.outdir / "tensorboard"))
        return self._writer

    def on_tick(self, trainer: GANTrainer, stats: dict[str, Any]) -> None:
        """Write each finite number of the row as ``scalar/<name>``, at step = images shown."""
        writer = self._writer_for(trainer)
        for name, value in stats.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
                writer.add_scalar(f"scalar/{name}", float(value), global_step=trainer.cur_nimg)
        writer.flush()

    def on_images(self, trainer: GANTrainer, images: torch.Tensor, kimg: float) -> None:
        """Write the grid's images as ``fakes`` (clipped to [-1, 1], mapped to [0, 1]), at step = images shown."""
        writer = self._writer_for(trainer)
        writer.add_images("fakes", (images.detach().float().cpu().clamp(-1, 1) + 1) / 2, global_step=trainer.cur_nimg)
        writer.flush()

    def on_end(self, trainer: GANTrainer, checkpoint: Path) -> None:
        """Close the event file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
