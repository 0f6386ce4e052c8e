"""Throughput of the two halves of scoring a generator, in images per second, and the cost of FID's interval.

- ``generate``: :class:`~medgan_aug.metrics.FIDScorer`'s in-memory generation (latents from seeds, ``G``
  under ``no_grad``, rounding to uint8), with the generator the trainer's ``auto`` preset builds, grayscale,
  unconditional, batch 8.
- ``extract``: :meth:`FIDScorer.score` on two in-memory uint8 sets, whose time is almost all feature
  extraction (the image preparation, the extractor's resizing and the network): KID on one subset of two
  images is the only metric, so the statistics cost nothing. timm models get random weights saved to a temp
  file (nothing is downloaded, and the speed does not depend on the weights); ``inception-v3-compat`` runs
  only when its weights are in torch's hub cache.

- ``bootstrap``: FID's bootstrap interval and real-vs-real floor (:func:`~medgan_aug.metrics.frechet.fid_uncertainty`)
  on synthetic float32 features of ``--feature-width`` columns (2048, Inception's), ``n`` images per set, no
  extractor: a plain FID as torch-fidelity computes it (statistics of both sets and the distance), the
  resampler's one-off setup (centring, and the Gram matrix on that route), one bootstrap replicate, the default
  200 replicates (setup + 200 times the median replicate) and its ratio to the plain FID, and the floor (5
  splits, setup included). On the CPU, in float64, with numpy's BLAS threads; pin them (``OPENBLAS_NUM_THREADS=1``)
  for stable numbers on a shared machine.

The time is the median of the repeats after one warm-up run.

Usage::

    python benchmarks/metrics_bench.py [--device cpu cuda] [--resolutions 64 128] [--n-generate 32]
        [--n-extract 48] [--extractors timm:resnet18 timm:resnet50 inception-v3-compat] [--repeats 2]
        [--parts generate extract bootstrap] [--bootstrap-sizes 500 2000 5000] [--feature-width 2048]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from medgan_aug.metrics import FIDScorer
from medgan_aug.metrics.frechet import FrechetResampler, fid_uncertainty
from medgan_aug.metrics.weights import default_weights_location
from medgan_aug.nets import StyleGenerator
from medgan_aug.train import resolve_config

_GENERATOR_BATCH = 8
_RESAMPLES = 200
_CPU = torch.device("cpu")


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of ``fn`` after one warm-up call, waiting for the GPU."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_rate(resolution: int, n: int, device: torch.device, repeats: int) -> float:
    """Images per second of the scorer's generation path with the ``auto`` preset's generator."""
    config = resolve_config("auto", resolution=resolution, img_channels=1, c_dim=0, num_gpus=1)
    G = StyleGenerator(**config.G_kwargs).to(device).eval().requires_grad_(False)
    scorer = FIDScorer(["fid"], extractor=torch.nn.Flatten(), device=device)
    # The private step score_generator runs before extraction: timing it alone leaves the extractor out.
    seconds = median_seconds(lambda: scorer._generate(G, n, None, 1.0, "const", 0, _GENERATOR_BATCH), device, repeats)
    return n / seconds


def extraction_rate(
    extractor: str, weights: Path | None, n: int, resolution: int, device: torch.device, repeats: int
) -> float:
    """Images per second through ``FIDScorer.score``'s extractor path, both sets counted."""
    scorer = FIDScorer(
        ["kid"], extractor=extractor, weights=weights, kid_subsets=1, kid_subset_size=2, batch_size=32, device=device
    )
    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (n, 1, resolution, resolution), dtype=torch.uint8, generator=generator)
    fake = torch.randint(0, 256, (n, 1, resolution, resolution), dtype=torch.uint8, generator=generator)
    return 2 * n / median_seconds(lambda: scorer.score(real, fake), device, repeats)


def bootstrap_costs(n: int, width: int, repeats: int) -> dict[str, float | str]:
    """Seconds of a plain FID, of the bootstrap and of the floor, on two sets of ``n`` synthetic features."""
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(width, width)) / math.sqrt(width)
    real = (rng.normal(size=(n, width)) @ mixing).astype(np.float32)
    fake = (rng.normal(size=(n, width)) @ mixing * 1.1 + 0.1).astype(np.float32)
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)

    def plain() -> float:
        stats = fid_features_to_statistics(fake_t), fid_features_to_statistics(real_t)
        return fid_statistics_to_metric(*stats, False)["frechet_inception_distance"]

    stacked = np.concatenate([fake, real]).astype(np.float64)
    distinct = round(n * (1 - (1 - 1 / n) ** n))
    workload = [(distinct, distinct, _RESAMPLES)]
    setup = median_seconds(lambda: FrechetResampler(stacked, workload), _CPU, repeats)
    resampler = FrechetResampler(stacked, workload)

    def replicate() -> float:
        fake_counts = np.bincount(rng.integers(n, size=n), minlength=2 * n)
        real_counts = np.bincount(rng.integers(n, size=n) + n, minlength=2 * n)
        return resampler.distance(fake_counts, real_counts)

    one = median_seconds(replicate, _CPU, repeats)
    return {
        "route": resampler.route,
        "plain": median_seconds(plain, _CPU, repeats),
        "setup": setup,
        "replicate": one,
        "bootstrap": setup + _RESAMPLES * one,
        "floor": median_seconds(lambda: fid_uncertainty(fake, real, 0.0, resamples=0, floor=True, seed=0), _CPU, 1),
    }


def random_timm_weights(model_name: str, folder: Path) -> Path:
    """Save a randomly initialised timm model's state dict, standing in for pretrained weights."""
    import timm

    path = folder / f"{model_name}.pth"
    torch.save(timm.create_model(model_name, pretrained=False, num_classes=0).state_dict(), path)
    return path


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    parser.add_argument("--device", nargs="+", default=default_devices, choices=["cpu", "cuda"])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[64, 128], help="generator resolutions")
    parser.add_argument("--n-generate", type=int, default=32, help="images generated per timed run")
    parser.add_argument("--n-extract", type=int, default=48, help="images per set per timed extraction run")
    parser.add_argument("--extract-resolution", type=int, default=128, help="side of the images to extract from")
    parser.add_argument("--extractors", nargs="+", default=["timm:resnet18", "timm:resnet50", "inception-v3-compat"])
    parser.add_argument("--repeats", type=int, default=2)
    parts = ["generate", "extract", "bootstrap"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts, help="what to time")
    parser.add_argument("--bootstrap-sizes", nargs="+", type=int, default=[500, 2000, 5000], help="images per set")
    parser.add_argument("--feature-width", type=int, default=2048, help="feature columns of the bootstrap part")
    args = parser.parse_args()
    torch.manual_seed(0)

    if "bootstrap" in args.parts:
        print(
            f"| n per set | route | plain FID s | setup s | s / replicate | {_RESAMPLES} replicates s "
            "| x plain FID | floor s |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for n in args.bootstrap_sizes:
            cost = bootstrap_costs(n, args.feature_width, args.repeats)
            ratio = float(cost["bootstrap"]) / float(cost["plain"])
            print(
                f"| {n} | {cost['route']} | {cost['plain']:.3f} | {cost['setup']:.3f} | {cost['replicate']:.4f} | "
                f"{cost['bootstrap']:.1f} | {ratio:.2g} | {cost['floor']:.2f} |",
                flush=True,
            )
    if not {"generate", "extract"} & set(args.parts):
        return
    rows: list[tuple[str, str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        weights: dict[str, Path | None] = {}
        for extractor in args.extractors if "extract" in args.parts else []:
            if extractor.startswith("timm:"):
                weights[extractor] = random_timm_weights(extractor[len("timm:") :], Path(tmp))
            else:
                _, cached = default_weights_location(extractor)
                if cached is None or not cached.is_file():
                    print(f"note: skipping {extractor}: its weights are not in torch's hub cache ({cached})")
                    continue
                weights[extractor] = None
        for name in args.device:
            device = torch.device(name)
            for resolution in args.resolutions if "generate" in args.parts else []:
                rate = generation_rate(resolution, args.n_generate, device, args.repeats)
                rows.append((name, "generate", f"auto G {resolution}px, batch {_GENERATOR_BATCH}", rate))
            for extractor, path in weights.items():
                rate = extraction_rate(extractor, path, args.n_extract, args.extract_resolution, device, args.repeats)
                size = args.extract_resolution
                rows.append((name, "extract", f"{extractor} on {size}x{size} gray, batch 32", rate))

    print("| device | stage | workload | img/s |")
    print("|---|---|---|---:|")
    for device_name, stage, workload, rate in rows:
        print(f"| {device_name} | {stage} | {workload} | {rate:.1f} |")


if __name__ == "__main__":
    main()
