"""A training run's own random streams, so that it neither reseeds nor consumes the caller's global RNG."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["RunRandomness"]


class RunRandomness:
    """The random streams of one run: a CPU ``torch.Generator`` and, on a GPU, one for that device.

    The networks' noise inputs, ADA's transforms, the losses' style mixing and any module a user passes draw
    from torch's global generators; threading an explicit generator through all of them would leave out user
    code. So while :meth:`active` is entered the run's streams take the place of the global ones, and on exit
    the run's streams are stored back and the caller's are restored untouched: a script that seeds torch for
    its own purposes gets the same numbers with or without a training run in between, and the run gets the
    same numbers whatever the script drew before.

    Parameters
    ----------
    seed : int
        Seed of both streams.
    device : torch.device
        The run's device; a CUDA device gets its own stream too.
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.device = torch.device(device)
        self.cpu = torch.Generator().manual_seed(seed)
        self.cuda = torch.Generator(self.device).manual_seed(seed) if self.device.type == "cuda" else None
        self._depth = 0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the block on the run's streams in place of torch's global CPU (and CUDA device) generators."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        saved_cpu = torch.get_rng_state()
        saved_cuda = torch.cuda.get_rng_state(self.device) if self.cuda is not None else None
        torch.set_rng_state(self.cpu.get_state())
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda.get_state(), self.device)
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            self.cpu.set_state(torch.get_rng_state())
            torch.set_rng_state(saved_cpu)
            if self.cuda is not None:
                self.cuda.set_state(torch.cuda.get_rng_state(self.device))
                torch.cuda.set_rng_state(saved_cuda, self.device)

    def state_dict(self) -> dict[str, Any]:
        """The streams' current states (read from torch's global generators while :meth:`active`)."""
        live = self._depth > 0
        cpu = torch.get_rng_state() if live else self.cpu.get_state()
        cuda = None
        if self.cuda is not None:
            cuda = torch.cuda.get_rng_state(self.device) if live else self.cuda.get_state()
        return {"cpu": cpu, "cuda": cuda}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s states; a CUDA state is ignored on the CPU and vice versa."""
        cpu = state["cpu"].cpu()
        self.cpu.set_state(cpu)
        if self._depth:
            torch.set_rng_state(cpu)
        cuda = state.get("cuda")
        if self.cuda is not None and cuda is not None:
            self.cuda.set_state(cuda.cpu())
            if self._depth:
                torch.cuda.set_rng_state(cuda.cpu(), self.device)
