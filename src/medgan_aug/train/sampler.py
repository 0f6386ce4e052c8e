"""An endless, reshuffled stream of dataset indices, split across processes."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["InfiniteSampler"]


class InfiniteSampler(Sampler[int]):
    """Yield dataset indices forever, reshuffled every pass, each process taking every ``world``-th one.

    Parameters
    ----------
    length : int
        Dataset size.
    rank, world : int
        This process and the number of processes.
    seed : int
        Shuffling seed, the same on every process.
    start : int
        Indices already consumed by this process (when resuming), skipped.
    """

    def __init__(self, length: int, rank: int = 0, world: int = 1, seed: int = 0, start: int = 0) -> None:
        if length < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.length = length
        self.rank = rank
        self.world = world
        self.seed = seed
        self.start = start

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed)
        position = 0
        skip = self.start
        while True:
            for index in torch.randperm(self.length, generator=generator).tolist():
                if position % self.world == self.rank:
                    if skip:
                        skip -= 1
                    else:
                        yield index
                position += 1
