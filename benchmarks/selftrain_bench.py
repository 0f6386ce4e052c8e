"""Throughput of :func:`medgan_aug.selftrain.predict` on a pool of images, in images per second.

Random-weight timm classifiers (nothing is downloaded; the speed does not depend on the weights) score an
in-memory pool of grayscale images with 2 classes, for each model and DataLoader worker count. The time is the
median of the repeats after one warm-up run, and includes the DataLoader (and its worker start-up).

Usage::

    python benchmarks/selftrain_bench.py [--models resnet18 convnext_tiny] [--size 128] [--batch-size 32]
        [--workers 0 2] [--n 128] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import TensorDataset

from medgan_aug.selftrain import create_classifier, predict


def predict_rate(
    model_name: str, pool: TensorDataset, batch_size: int, num_workers: int, device: str, repeats: int
) -> float:
    """Images per second of ``predict`` with ``model_name`` over ``pool``."""
    torch.manual_seed(0)
    model = create_classifier(model_name, 2, pool.tensors[0].shape[1])

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


def main() -> None:
    """Print a markdown table of prediction throughput."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "convnext_tiny"])
    parser.add_argument("--size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--n", type=int, default=128, help="images in the pool")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(args.n, 1, args.size, args.size, generator=generator) * 2 - 1
    pool = TensorDataset(images, torch.zeros(args.n, dtype=torch.int64))
    print(
        f"predict() on {args.n} grayscale {args.size} px images, batch {args.batch_size}, {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| model | workers | img/s |")
    print("|---|---:|---:|")
    for name in args.models:
        for workers in args.workers:
            rate = predict_rate(name, pool, args.batch_size, workers, args.device, args.repeats)
            print(f"| {name} | {workers} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
