"""Time and memory of the data-copying audit (:func:`~medgan_aug.metrics.audit_copying`) on feature arrays.

Synthetic float32 features of ``--width`` columns (2048, Inception's) from a mixture of 20 Gaussian clusters,
``--train`` training, ``--generated`` generated and ``--test`` held-out rows; no extractor. Timed: one exact
nearest-neighbour search of the generated rows in the training rows (:func:`nearest_neighbours`, float32
products in chunks of ``--chunk`` rows, distances recomputed in float64), and the whole audit (three searches,
k-means on the training rows, the per-cell statistics). Memory: the process's peak resident set during the
audit above what it held before (Linux ``VmHWM`` after resetting it), next to what one float64 distance matrix
of the generated against the training rows would take. The time is the median of ``--rounds`` runs; pin the
BLAS threads (``OMP_NUM_THREADS``) for stable numbers on a shared machine.

Usage::

    python benchmarks/copying_bench.py [--train 10000] [--generated 10000] [--test 2000] [--width 2048]
        [--chunk 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from medgan_aug.metrics.copying import audit_copying, nearest_neighbours

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _kib(field: str) -> int | None:
    if not _STATUS.exists():
        return None
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM to the current resident set
    except OSError:
        return False
    return True


def mixture(n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    centres = np.random.default_rng(7).normal(0, 2, (20, width)).astype(np.float32)
    return centres[rng.integers(20, size=n)] + rng.standard_normal((n, width), dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--generated", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=2_000)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    train = mixture(args.train, args.width, rng)
    generated = mixture(args.generated, args.width, rng)
    test = mixture(args.test, args.width, rng)
    print(
        f"copying audit: {args.generated} generated, {args.train} training, {args.test} held-out rows of "
        f"{args.width} features; chunk {args.chunk} rows; torch threads {torch.get_num_threads()}"
    )

    search, whole, peaks = [], [], []
    for _ in range(args.rounds):
        start = time.perf_counter()
        nearest_neighbours(generated, train, chunk_rows=args.chunk)
        search.append(time.perf_counter() - start)
        before = _kib("VmRSS")
        measured = _reset_peak()
        start = time.perf_counter()
        audit = audit_copying(train, generated, test, chunk_rows=args.chunk)
        whole.append(time.perf_counter() - start)
        peak = _kib("VmHWM")
        if measured and before is not None and peak is not None:
            peaks.append((peak - before) / 1024)
    inputs = (train.nbytes + generated.nbytes + test.nbytes) / 2**20
    matrix = args.generated * args.train * 8 / 2**20
    print(f"| part | median s ({args.rounds} rounds) |")
    print("|---|---:|")
    print(f"| nearest neighbours, generated in training | {statistics.median(search):.1f} |")
    print(f"| whole audit ({len(audit.cells)} cells) | {statistics.median(whole):.1f} |")
    if peaks:
        print(
            f"peak memory above the inputs' process: {max(peaks):.0f} MiB (inputs {inputs:.0f} MiB float32; "
            f"one float64 distance matrix would be {matrix:.0f} MiB)"
        )
    print(f"Z_U {audit.zu:.2f}, flagged {audit.flagged_fraction:.1%} (held-out {audit.test_flagged_fraction:.1%})")


if __name__ == "__main__":
    main()
