"""Throughput of the StyleGAN2 networks per ops backend, in images per second.

Two workloads at each resolution, batch 8, grayscale, with the networks the
trainer's ``auto`` preset builds (channel_base 16384, channel_max 512, two
mapping layers, conv_clamp 256):

- ``G forward``: inference, ``G(z)`` in eval mode without gradients;
- ``G+D fwd/bwd``: a generator training step's compute, ``D(G(z))``, then the
  non-saturating loss backpropagated into both networks (train mode).

Each backend is selected with ``MEDGAN_AUG_OPS``; the time is the median of
the repeats after a warm-up.

Usage::

    python benchmarks/nets_bench.py [--device cpu|cuda] [--resolutions 64 256] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F

from medgan_aug.nets import StyleDiscriminator, StyleGenerator
from medgan_aug.ops import ENV_VAR, available_impls
from ops_bench import median_seconds


@dataclass
class Row:
    resolution: int
    workload: str
    impl: str
    seconds: float
    images_per_second: float
    speedup: float


def build_networks(resolution: int, channels: int, device: torch.device) -> tuple[StyleGenerator, StyleDiscriminator]:
    common = {"channel_base": 16384, "channel_max": 512, "num_fp16_res": 4, "conv_clamp": 256}
    G = StyleGenerator(
        z_dim=512,
        c_dim=0,
        w_dim=512,
        img_resolution=resolution,
        img_channels=channels,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs=common,
    )
    D = StyleDiscriminator(
        c_dim=0, img_resolution=resolution, img_channels=channels, epilogue_kwargs={"mbstd_group_size": 4}, **common
    )
    return G.to(device), D.to(device)


def generate(G: StyleGenerator, z: torch.Tensor) -> None:
    with torch.no_grad():
        G.eval()(z)


def train_step(G: StyleGenerator, D: StyleDiscriminator, z: torch.Tensor) -> None:
    G.train()
    D.train()
    logits = D(G(z, update_w_avg=False))
    F.softplus(-logits).mean().backward()
    G.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)


def run(args: argparse.Namespace) -> list[Row]:
    device = torch.device(args.device)
    impls = args.impls or available_impls(device)
    rows = []
    for resolution in args.resolutions:
        torch.manual_seed(0)
        G, D = build_networks(resolution, args.channels, device)
        z = torch.randn(args.batch, G.z_dim, device=device)
        workloads = (("G forward", partial(generate, G, z)), ("G+D fwd/bwd", partial(train_step, G, D, z)))
        for workload, fn in workloads:
            baseline = None
            for impl in impls:
                os.environ[ENV_VAR] = impl
                seconds = median_seconds(fn, device, args.repeats, warmup=1)
                baseline = baseline or seconds
                row = Row(resolution, workload, impl, seconds, args.batch / seconds, baseline / seconds)
                rows.append(row)
                print(
                    f"{resolution:>4} px  {workload:<12} {impl:<6} {seconds * 1e3:9.1f} ms "
                    f"{row.images_per_second:8.2f} img/s  x{row.speedup:.2f}",
                    flush=True,
                )
    return rows


def markdown(rows: list[Row], batch: int) -> str:
    lines = [
        f"| resolution | workload (batch {batch}) | backend | img/s | vs ref |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.resolution} | {row.workload} | {row.impl} | {row.images_per_second:.2f} | {row.speedup:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--impls", nargs="+", help="backends to time (default: all that run on the device, ref first)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args()
    rows = run(args)
    print()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print(markdown(rows, args.batch))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(row) for row in rows], f, indent=2)


if __name__ == "__main__":
    main()
