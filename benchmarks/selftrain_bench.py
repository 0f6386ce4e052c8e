"""Throughput of :func:`medgan_aug.selftrain.predict` on a pool of images, and optionally of a whole self-training run.

Random-weight timm classifiers (nothing is downloaded; the speed does not depend on the weights) score a pool of
random grayscale images with 2 classes, for each model, DataLoader worker count and pool kind: ``memory`` (a
TensorDataset) or ``folder`` (the same images written once as 8-bit PNGs to a temporary folder and read by a
:class:`~medgan_aug.selftrain.FolderPool`, so PNG decoding and resizing in the workers are included). The time is
the median of the repeats after one warm-up run, and includes the DataLoader (and its worker start-up).

With ``--end-to-end``, one :meth:`SelfTrainer.run <medgan_aug.selftrain.SelfTrainer.run>` (real 50 % baseline,
real 100 %, one pseudo-labelling round) per ``--seeds`` value (classifier seeds per stage) is timed on a synthetic
binary real set (two classes of different mean brightness plus noise) and a folder pool drawn the same way, with the
first model, split into classifier training, prediction, the comparison's statistics and the rest.

With ``--statistics``, :func:`~medgan_aug.selftrain.compare_runs` (2,000 bootstrap resamples, McNemar, DeLong, the
sensitivity interval) is timed on random binary predictions of ``--test-images`` images for each ``--seeds`` value,
resampling images or 100 patients; the table gives seconds per 1,000 test images, so users can size the test set,
``repeats`` and ``bootstrap``.

Usage::

    python benchmarks/selftrain_bench.py [--models resnet18 convnext_tiny] [--size 128] [--batch-size 32]
        [--workers 0 2] [--n 128] [--repeats 3] [--device cpu] [--threads N] [--pool memory folder]
        [--end-to-end [--real-per-class 100] [--epochs 1] [--threshold 0.9] [--seeds 1 3]]
        [--statistics [--test-images 1000 10000] [--seeds 1 3]]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from medgan_aug.selftrain import (
    FolderPool,
    SelfTrainer,
    TrainSettings,
    compare_runs,
    create_classifier,
    load_real_splits,
    predict,
)

POOL_KINDS = ("memory", "folder")
CLASS_NAMES = ("lesion", "normal")
CLASS_MEANS = {"lesion": 0.65, "normal": 0.35}  # mean brightness in [0, 1]; the classifier's only cue


def write_pngs(images: np.ndarray, folder: Path) -> None:
    """Write float images ``[N, R, R]`` in [0, 1] as 8-bit grayscale PNGs ``00000.png``, ... into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.rint(images * 255), 0, 255).astype(np.uint8)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def predict_rate(
    model_name: str, pool: Dataset, in_chans: int, batch_size: int, num_workers: int, device: str, repeats: int
) -> float:
    """Images per second of ``predict`` with ``model_name`` over ``pool``."""
    torch.manual_seed(0)
    model = create_classifier(model_name, 2, in_chans)

    def run() -> None:
        predict(model, pool, batch_size=batch_size, num_workers=num_workers, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return len(pool) / statistics.median(times)


class TimedSelfTrainer(SelfTrainer):
    """A :class:`SelfTrainer` that adds up the wall time of its classifier training and of its predictions.

    Attributes
    ----------
    fit_seconds, predict_seconds : float
        Time spent building and training classifiers, and scoring datasets (pool, validation and test).
    fit_calls, predict_calls : int
        Classifiers trained, and datasets scored.
    """

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        self.fit_seconds = 0.0
        self.predict_seconds = 0.0
        self.fit_calls = 0
        self.predict_calls = 0

    # The two private hooks of SelfTrainer that every run goes through; a benchmark may lean on them, a user may not.
    # Arguments are passed through untouched so that the timing survives changes to their private signatures.
    def _fit(self, *args: Any, **kwargs: Any) -> tuple[nn.Module, list[dict[str, float]]]:
        start = time.perf_counter()
        try:
            return super()._fit(*args, **kwargs)
        finally:
            self.fit_seconds += time.perf_counter() - start
            self.fit_calls += 1

    def _predict(self, *args: Any, **kwargs: Any) -> np.ndarray:
        start = time.perf_counter()
        try:
            return super()._predict(*args, **kwargs)
        finally:
            self.predict_seconds += time.perf_counter() - start
            self.predict_calls += 1


def end_to_end(args: argparse.Namespace, workdir: Path) -> None:
    """Time one ``SelfTrainer.run`` and print a markdown table of where the time went."""
    rng = np.random.default_rng(1)
    real_root = workdir / "real"
    for name in CLASS_NAMES:
        noise = rng.normal(0.0, 0.15, size=(args.real_per_class, args.size, args.size))
        write_pngs(CLASS_MEANS[name] + noise, real_root / name)
    # The pool looks like the real classes (half each), as a generator trained on them would make it, so that
    # confident pseudo-labels exist and the round trains.
    means = np.array([CLASS_MEANS[CLASS_NAMES[i % 2]] for i in range(args.n)])[:, None, None]
    pool_root = workdir / "pool_e2e"
    write_pngs(means + rng.normal(0.0, 0.15, size=(args.n, args.size, args.size)), pool_root)

    start = time.perf_counter()
    real = load_real_splits(real_root, args.size)
    pool = FolderPool(pool_root, args.size, num_channels=real.num_channels)
    load_seconds = time.perf_counter() - start
    workers = args.workers[-1]
    counts = real.describe()["splits"]
    print(
        f"\nSelfTrainer.run: {args.models[0]}, real {2 * args.real_per_class} images ({args.size} px; train "
        f"{counts['train']['count']}, val {counts['val']['count']}, test {counts['test']['count']}), folder pool of "
        f"{len(pool)}, {args.epochs} epoch(s), batch {args.batch_size}, {workers} workers, threshold "
        f"{args.threshold}, {args.device}; load_real_splits + FolderPool {load_seconds:.2f} s\n"
    )
    print("| seeds per stage | classifiers | train s | predict s | comparison s | rest s | total s | verdict |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for seeds in args.seeds:
        trainer = TimedSelfTrainer(
            model=args.models[0],
            rounds=1,
            real_fraction=0.5,
            threshold=args.threshold,
            positive_class=CLASS_NAMES[0],
            repeats=seeds,
            train=TrainSettings(
                epochs=args.epochs, batch_size=args.batch_size, num_workers=workers, device=args.device
            ),
        )
        start = time.perf_counter()
        result = trainer.run(real, pool, progress=False)
        run_seconds = time.perf_counter() - start
        # Without out_dir the run writes no report, so the comparison is computed here, on first use.
        start = time.perf_counter()
        comparison = result.comparison()
        compare_seconds = time.perf_counter() - start
        other = run_seconds - trainer.fit_seconds - trainer.predict_seconds
        verdict = "none" if comparison is None else comparison.verdict
        print(
            f"| {seeds} | {trainer.fit_calls} | {trainer.fit_seconds:.2f} | {trainer.predict_seconds:.2f} | "
            f"{compare_seconds:.2f} | {other:.2f} | {run_seconds + compare_seconds:.2f} | {verdict} |",
            flush=True,
        )


def statistics_cost(args: argparse.Namespace) -> None:
    """Time ``compare_runs`` on random predictions and print seconds per 1,000 test images."""
    print("\ncompare_runs: binary task, 2,000 bootstrap resamples (metric and sensitivity), McNemar, DeLong\n")
    print("| test images | seeds | resampled | seconds | seconds per 1,000 images |")
    print("|---:|---:|---|---:|---:|")
    rng = np.random.default_rng(0)
    for n in args.test_images:
        truth = rng.integers(2, size=n)
        patients = np.array([f"p{i % 100:03d}" for i in range(n)])
        for seeds in args.seeds:
            arms = []
            for accuracy in (0.8, 0.85):
                right = rng.random((seeds, n)) < accuracy
                positive = np.where(right, truth, 1 - truth) * 0.6 + 0.2 + rng.normal(0, 0.05, (seeds, n))
                probs = np.clip(positive, 0, 1)
                arms.append(np.stack([1 - probs, probs], axis=-1))
            for name, groups in (("images", None), ("100 patients", patients)):
                times = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    compare_runs(
                        truth, arms[0], arms[1], metric="balanced_accuracy", class_names=CLASS_NAMES,
                        baseline="a", compared="b", selected=True, groups=groups, positive_class=CLASS_NAMES[1],
                    )  # fmt: skip
                    times.append(time.perf_counter() - start)
                seconds = statistics.median(times)
                print(f"| {n} | {seeds} | {name} | {seconds:.3f} | {1000 * seconds / n:.3f} |", flush=True)


def main() -> None:
    """Print a markdown table of prediction throughput, and with ``--end-to-end`` one of a self-training run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "convnext_tiny"])
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (a power of two for folders)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--n", type=int, default=128, help="images in the pool")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--pool", nargs="+", choices=POOL_KINDS, default=list(POOL_KINDS), help="pool kinds to score")
    parser.add_argument("--end-to-end", action="store_true", help="also time one SelfTrainer.run (last --workers)")
    parser.add_argument("--real-per-class", type=int, default=100, help="end-to-end: real images per class")
    parser.add_argument("--epochs", type=int, default=1, help="end-to-end: training epochs of every run")
    parser.add_argument("--threshold", type=float, default=0.9, help="end-to-end: pseudo-label confidence threshold")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 3], help="classifier seeds per stage to time")
    parser.add_argument("--statistics", action="store_true", help="also time compare_runs on random predictions")
    parser.add_argument("--test-images", type=int, nargs="+", default=[1000, 10000], help="--statistics: test sizes")
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1, got {args.threads}")
        # OpenMP threads spin-wait: with other processes on the cores, fewer threads can be many times faster.
        torch.set_num_threads(args.threads)
    if args.n < 1:
        parser.error(f"--n must be >= 1, got {args.n}")
    if args.real_per_class < 5:
        parser.error(f"--real-per-class must be >= 5 so that every split gets both classes, got {args.real_per_class}")

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.n, 1, args.size, args.size, generator=generator)
    with tempfile.TemporaryDirectory(prefix="selftrain_bench_") as tmp:
        workdir = Path(tmp)
        pools: dict[str, Dataset] = {}
        if "memory" in args.pool:
            pools["memory"] = TensorDataset(images * 2 - 1, torch.zeros(args.n, dtype=torch.int64))
        if "folder" in args.pool:
            write_pngs(images[:, 0].numpy(), workdir / "pool")
            pools["folder"] = FolderPool(workdir / "pool", args.size)
        print(
            f"predict() on {args.n} grayscale {args.size} px images, batch {args.batch_size}, {args.device}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
        )
        print("| model | pool | workers | img/s |")
        print("|---|---|---:|---:|")
        for name in args.models:
            for kind, pool in pools.items():
                for workers in args.workers:
                    rate = predict_rate(name, pool, 1, args.batch_size, workers, args.device, args.repeats)
                    print(f"| {name} | {kind} | {workers} | {rate:.1f} |", flush=True)
        if args.end_to_end:
            end_to_end(args, workdir)
    if args.statistics:
        statistics_cost(args)


if __name__ == "__main__":
    main()
