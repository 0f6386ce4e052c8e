"""How many CPU threads torch's operators use, chosen from what the machine's other processes leave free.

Torch splits a CPU operator over its intra-op (OpenMP) threads, which meet at a barrier when the operator ends.
When another process shares the cores, the scheduler takes one of those threads off its core for a time slice
(milliseconds) at many barriers and the others wait for it: a small network, whose operators take tens of
microseconds, then trains several times slower on two threads than on one (``benchmarks/threads_bench.py``
measures it). :class:`ThreadPolicy` ``"auto"`` gives torch one thread per core that other processes leave
free, measured from the kernel's CPU accounting (``/proc/stat``) on the CPUs this process may run on, and
re-measures it every few seconds between training, generation and self-training steps
(:func:`adjust_threads`), so a job that starts on a quiet machine slows down gracefully when a browser, a
second job or a data loader starts beside it, and speeds up again when they end.

The command line applies ``--threads N|auto`` (default ``auto``) to every command; in your own script call
:func:`use_threads` once at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import torch

__all__ = [
    "BUSY_CORES",
    "CpuLoad",
    "CpuLoadMeter",
    "ThreadChange",
    "ThreadPolicy",
    "ThreadSetting",
    "active_policy",
    "adjust_threads",
    "check_thread_setting",
    "parse_threads",
    "threads_for_load",
    "usable_cores",
    "use_threads",
]

ThreadSetting: TypeAlias = int | Literal["auto"]

BUSY_CORES = 0.5
"""Cores' worth of CPU time other processes use above which the machine counts as busy."""

# A core is lent a thread only when other processes leave at least three quarters of it free: a thread that is
# descheduled a quarter of the time already stalls every barrier of a small network (see the benchmark).
_FREE_SHARE = 0.75
_PROC = Path("/proc")
_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores(cgroup_cpu_max: Path = _CGROUP_CPU_MAX) -> int:
    """CPU cores this process may use: its affinity mask, capped by a cgroup v2 CPU quota if one is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with contextlib.suppress(OSError, ValueError):
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    return cores


@dataclass(frozen=True)
class CpuLoad:
    """What other processes used of this process's CPUs over a time window.

    Attributes
    ----------
    cores : int
        Cores this process may use (:func:`usable_cores`).
    others : float
        Cores' worth of CPU time used by everything but this process (other processes, this process's child
        processes such as data-loader workers, the hypervisor's steal) on those cores, averaged over the window.
    load_average : float or None
        The system's one-minute load average (this process included), where the platform reports one.
    seconds : float
        Length of the window.
    """

    cores: int
    others: float
    load_average: float | None
    seconds: float

    @property
    def free(self) -> float:
        """Cores' worth of CPU time the other processes left unused."""
        return max(self.cores - self.others, 0.0)

    @property
    def busy(self) -> bool:
        """Whether other processes use at least :data:`BUSY_CORES`.

        Not the load average: it trails the machine by a minute (a job that just ended still counts) and it
        counts this process's own threads.
        """
        return self.others >= BUSY_CORES

    def describe(self) -> str:
        """``"other processes use 1.0 of 2 cores (load average 1.9)"``."""
        load = f" (load average {self.load_average:.1f})" if self.load_average is not None else ""
        return f"other processes use {self.others:.1f} of {self.cores} cores{load}"


@dataclass(frozen=True)
class _Sample:
    time: float
    total_ticks: int
    busy_ticks: int
    own_ticks: int


class CpuLoadMeter:
    """Measures the other processes' CPU use on this process's cores between successive reads (Linux).

    Parameters
    ----------
    proc : pathlib.Path, optional
        The proc filesystem to read (``/proc``).
    """

    def __init__(self, proc: Path = _PROC) -> None:
        self._proc = Path(proc)
        self._cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        self._cores = usable_cores()
        self._last = self._sample()

    @property
    def available(self) -> bool:
        """Whether the platform reports per-CPU accounting (``False`` off Linux)."""
        return self._last is not None

    def _sample(self) -> _Sample | None:
        try:
            stat = (self._proc / "stat").read_text()
            own = (self._proc / "self" / "stat").read_text()
        except OSError:
            return None
        wanted = {f"cpu{index}" for index in self._cpus}
        total = busy = 0
        for line in stat.splitlines():
            fields = line.split()
            if not fields or fields[0] not in wanted:
                continue
            # user nice system idle iowait irq softirq steal (guest time is already inside user and nice).
            ticks = [int(value) for value in fields[1:9]]
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
        # The command name in parentheses may hold spaces; utime and stime are fields 14 and 15.
        own_fields = own.rsplit(")", 1)[-1].split()
        own_ticks = int(own_fields[11]) + int(own_fields[12])
        return _Sample(time.monotonic(), total, busy, own_ticks) if total else None

    def read(self) -> CpuLoad | None:
        """The load since the previous read (or since construction); ``None`` where it cannot be measured."""
        sample = self._sample()
        last, self._last = self._last, sample
        if sample is None or last is None or sample.total_ticks <= last.total_ticks:
            return None
        share = (sample.busy_ticks - last.busy_ticks - (sample.own_ticks - last.own_ticks)) / (
            sample.total_ticks - last.total_ticks
        )
        others = max(share, 0.0) * len(self._cpus)
        return CpuLoad(self._cores, min(others, float(self._cores)), _load_average(), sample.time - last.time)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def threads_for_load(load: CpuLoad | None, max_threads: int) -> int:
    """Threads for torch given the measured load: one per core other processes leave free, in ``[1, max_threads]``.

    A core counts as free when others use less than a quarter of it. Without a measurement, ``max_threads``.
    """
    if load is None:
        return max_threads
    return max(1, min(max_threads, math.floor(load.free + 1.0 - _FREE_SHARE)))


def check_thread_setting(threads: object) -> None:
    """Raise ``ValueError`` unless ``threads`` is a positive integer or ``"auto"``."""
    if threads != "auto" and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}")


def parse_threads(text: str) -> ThreadSetting:
    """An argparse type for ``--threads``: a positive integer or ``auto``."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--threads must be a positive integer or 'auto', got {text!r}")
    return value


@dataclass(frozen=True)
class ThreadChange:
    """One decision of a :class:`ThreadPolicy`: when, how many threads, and the load it was made from."""

    time: float
    threads: int
    load: CpuLoad | None


class ThreadPolicy:
    """Sets torch's intra-op thread count, and with ``"auto"`` keeps it matched to the free cores.

    Parameters
    ----------
    threads : int or "auto", optional
        A fixed thread count, or ``"auto"`` (default): one thread per core other processes leave free
        (:func:`threads_for_load`), at most torch's own default (which honours ``OMP_NUM_THREADS``).
    interval : float, optional
        Seconds between re-measurements in :meth:`adjust` (``"auto"`` only), > 0.
    meter : CpuLoadMeter, optional
        Where the load comes from (default: this machine's ``/proc``).

    Attributes
    ----------
    max_threads : int
        Torch's thread count when the policy was made: the ceiling of ``"auto"``.
    history : list of ThreadChange
        Every thread count the policy set, with the load it was chosen from.
    last_load : CpuLoad or None
        The latest measurement (``None`` before one, for a fixed count, or off Linux).
    """

    def __init__(
        self, threads: ThreadSetting = "auto", *, interval: float = 5.0, meter: CpuLoadMeter | None = None
    ) -> None:
        check_thread_setting(threads)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < math.inf:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.setting: ThreadSetting = threads
        self.interval = float(interval)
        self.max_threads = torch.get_num_threads()
        self._meter = meter
        self._next_check = math.inf
        self.history: list[ThreadChange] = []
        self.last_load: CpuLoad | None = None
        self._restore: tuple[ThreadPolicy | None, int] = (None, self.max_threads)

    @property
    def threads(self) -> int:
        """The thread count the policy set last (torch's current one before :meth:`start`)."""
        return self.history[-1].threads if self.history else torch.get_num_threads()

    def start(self, seconds: float = 0.3) -> int:
        """Choose and set the thread count; ``"auto"`` first watches the machine for ``seconds``.

        Call it before the first operator runs. Returns the thread count.
        """
        if self.setting != "auto":
            return self._set(self.setting, None)
        if self._meter is None:
            self._meter = CpuLoadMeter()
        if self._meter.available:
            time.sleep(seconds)
        load = self._meter.read()
        return self._set(threads_for_load(load, self.max_threads), load)

    def adjust(self) -> int:
        """Re-measure and re-set the thread count when ``interval`` seconds have passed (``"auto"`` only).

        Cheap otherwise: call it between steps. Returns the thread count.
        """
        if self._meter is None or time.monotonic() < self._next_check:
            return self.threads
        load = self._meter.read()
        return self._set(threads_for_load(load, self.max_threads), load)

    def _set(self, threads: int, load: CpuLoad | None) -> int:
        self.last_load = load
        if not self.history or threads != self.history[-1].threads:
            torch.set_num_threads(threads)
            self.history.append(ThreadChange(time.time(), threads, load))
        self._next_check = time.monotonic() + self.interval
        return threads

    def __enter__(self) -> ThreadPolicy:
        """Start the policy and make it the active one (:func:`adjust_threads`) until the block ends."""
        global _active
        self._restore = (_active, torch.get_num_threads())
        self.start()
        _active = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the previous active policy and torch's thread count."""
        global _active
        _active, threads = self._restore
        torch.set_num_threads(threads)


_active: ThreadPolicy | None = None


def use_threads(threads: ThreadSetting = "auto", *, interval: float = 5.0) -> ThreadPolicy:
    """Set torch's CPU threads for the rest of the process; ``"auto"`` keeps them matched to the free cores.

    Call it once at the start of a script, before the first operator runs. The library's training, generation
    and self-training loops then call :func:`adjust_threads` between steps.

    Parameters
    ----------
    threads : int or "auto", optional
        See :class:`ThreadPolicy`.
    interval : float, optional
        Seconds between re-measurements.

    Returns
    -------
    ThreadPolicy
        The started, active policy (its ``history`` shows what it chose and why).
    """
    global _active
    policy = ThreadPolicy(threads, interval=interval)
    policy.start()
    _active = policy
    return policy


def active_policy() -> ThreadPolicy | None:
    """The policy :func:`use_threads` (or a ``with ThreadPolicy(...)`` block) made active, if any."""
    return _active


def adjust_threads() -> int:
    """Let the active policy re-check the load (a no-op without one); returns torch's thread count."""
    return _active.adjust() if _active is not None else torch.get_num_threads()
