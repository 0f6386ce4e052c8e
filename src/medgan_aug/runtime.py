"""Process-wide settings that make CPU training faster.

PyTorch's CPU tensors come from the C library's ``malloc``.  glibc serves
every block larger than a threshold (128 KiB to 32 MiB, adapting) with a
fresh ``mmap`` and unmaps it on free, so each training step faults in and
zero-fills every large activation and gradient again: on a 2-core machine
that was half of a 256 px StyleGAN2 step's wall time and 15-20 % of a 64 px
one's (``benchmarks/nets_bench.py --allocator``).  :func:`retain_freed_memory`
keeps freed blocks in the process for the next step instead.
"""

from __future__ import annotations

import ctypes
import platform
import sys

__all__ = ["MAX_RETAINED_BLOCK", "retain_freed_memory"]

# mallopt's parameter codes (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MAX_RETAINED_BLOCK = 2**31 - 1
"""Largest block size (bytes) kept for reuse: mallopt takes a C ``int``."""

_applied = False


def retain_freed_memory() -> bool:
    """Keep freed memory in the process for reuse instead of returning it to the system.

    Blocks of up to :data:`MAX_RETAINED_BLOCK` bytes are then carved from the
    heap and kept after they are freed, so a loop that allocates the same
    tensors every iteration (a training step) stops paying page faults.  The
    cost is that the process's resident memory stays at its peak.  The
    command line calls it; call it at the start of your own training script.

    Returns
    -------
    bool
        Whether the setting is in effect: ``False`` where the C library is not
        glibc (macOS, Windows, musl), which leaves the process unchanged.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    # Raise the trim threshold first: with only the mmap threshold raised, a
    # large block freed at the top of the heap would be trimmed away again.
    _applied = bool(libc.mallopt(_M_TRIM_THRESHOLD, MAX_RETAINED_BLOCK)) and bool(
        libc.mallopt(_M_MMAP_THRESHOLD, MAX_RETAINED_BLOCK)
    )
    return _applied
