"""Throughput of the StyleGAN2 networks per ops backend, in images per second.

Two workloads at each resolution, batch 8, grayscale, with the networks the
trainer's ``auto`` preset builds (channel_base 16384, channel_max 512, two
mapping layers, conv_clamp 256):

- ``G forward``: inference, ``G(z)`` in eval mode without gradients;
- ``G+D fwd/bwd``: a generator training step's compute, ``D(G(z))``, then the
  non-saturating loss backpropagated into both networks (train mode).

each with the networks contiguous and converted with
``.to(memory_format=torch.channels_last)`` (``--formats``). Each backend is
selected with ``MEDGAN_AUG_OPS``; ``cpp-direct`` is ``cpp`` with
``MEDGAN_AUG_CPU_CONV=direct`` (the framework's convolutions instead of
Winograd's), which separates the fused operators' gain from the convolutions'. The backends take turns within each of
``--rounds`` rounds (so a machine shared with other work slows them alike),
each timing the median of ``--repeats`` calls after a warm-up; the speedup over
``ref`` is the median of the per-round ratios, and the time shown is the median
over rounds.

``--allocator retain`` (the default, as the command line runs) keeps freed memory in the process
for reuse (``medgan_aug.runtime.retain_freed_memory``); ``--allocator system`` leaves the C
library's default, under which every large activation is mapped and zero-filled afresh each step.

``--clock cpu`` times with the process's CPU time (``time.process_time``) instead of the wall
clock: on a CPU shared with other work (load above the core count) wall-clock times mostly
measure the other work, while CPU time counts only this process's (use it with ``--threads 1``,
since threads waiting for each other may spin and count too).

Usage::

    python benchmarks/nets_bench.py [--device cpu|cuda] [--resolutions 64 256]
        [--formats contiguous channels_last] [--workloads "G+D fwd/bwd"] [--rounds 3] [--repeats 3] [--json out.json]
        [--allocator retain|system]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F

from medgan_aug.nets import StyleDiscriminator, StyleGenerator
from medgan_aug.ops import ENV_VAR, available_impls
from medgan_aug.ops.winograd import CONV_ENV_VAR
from medgan_aug.runtime import retain_freed_memory
from ops_bench import median_seconds


@dataclass
class Row:
    resolution: int
    workload: str
    memory_format: str
    impl: str
    seconds: float
    images_per_second: float
    speedup: float
    round_speedups: list[float]


FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
WORKLOADS = ("G forward", "G+D fwd/bwd")


def build_networks(
    resolution: int, channels: int, device: torch.device, channel_base: int = 16384, channel_max: int = 512
) -> tuple[StyleGenerator, StyleDiscriminator]:
    common = {"channel_base": channel_base, "channel_max": channel_max, "num_fp16_res": 4, "conv_clamp": 256}
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
    if args.impls is None and "cpp" in impls:
        impls.append("cpp-direct")
    if "ref" in impls:
        impls = ["ref", *[impl for impl in impls if impl != "ref"]]
    rows = []
    for resolution in args.resolutions:
        for format_name in args.formats:
            torch.manual_seed(0)
            G, D = build_networks(resolution, args.channels, device)
            G.to(memory_format=FORMATS[format_name])
            D.to(memory_format=FORMATS[format_name])
            z = torch.randn(args.batch, G.z_dim, device=device)
            workloads = {"G forward": partial(generate, G, z), "G+D fwd/bwd": partial(train_step, G, D, z)}
            for workload in args.workloads:
                fn = workloads[workload]
                seconds: dict[str, list[float]] = {impl: [] for impl in impls}
                for round_index in range(args.rounds):
                    for impl in impls:
                        backend, _, convolutions = impl.partition("-")
                        os.environ[ENV_VAR] = backend
                        os.environ[CONV_ENV_VAR] = convolutions or "winograd"
                        warmup = 1 if round_index == 0 else 0
                        # CPU time of this process (all its threads), or the wall clock.
                        clock = time.process_time if args.clock == "cpu" else time.perf_counter
                        seconds[impl].append(median_seconds(fn, device, args.repeats, warmup, clock))
                for impl in impls:
                    ratios = [base / own for base, own in zip(seconds[impls[0]], seconds[impl], strict=True)]
                    median = statistics.median(seconds[impl])
                    row = Row(
                        resolution,
                        workload,
                        format_name,
                        impl,
                        median,
                        args.batch / median,
                        statistics.median(ratios),
                        ratios,
                    )
                    rows.append(row)
                    print(
                        f"{resolution:>4} px  {workload:<12} {format_name:<13} {impl:<6} {median * 1e3:9.1f} ms "
                        f"{row.images_per_second:8.2f} img/s  x{row.speedup:.2f} "
                        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
                        flush=True,
                    )
    return rows


def markdown(rows: list[Row], batch: int) -> str:
    lines = [
        f"| resolution | workload (batch {batch}) | memory format | backend | img/s | vs ref (median of rounds) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.resolution} | {row.workload} | {row.memory_format} | {row.impl} | "
            f"{row.images_per_second:.2f} | {row.speedup:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per backend per round (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in which the backends take turns")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=list(FORMATS))
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument(
        "--impls",
        nargs="+",
        help="backends to time, cpp-direct for cpp without Winograd (default: all that run on the device, ref first)",
    )
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--clock", default="wall", choices=["wall", "cpu"], help="wall clock or process CPU time")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument(
        "--allocator",
        default="retain",
        choices=["retain", "system"],
        help="retain: freed memory is kept for reuse, as the command line does (retain_freed_memory); "
        "system: the C library's default, which maps large blocks afresh every step",
    )
    args = parser.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        parser.error("--clock cpu times CPU work; GPU timings use the wall clock")
    if args.threads:
        torch.set_num_threads(args.threads)
    allocator = "retain" if args.allocator == "retain" and retain_freed_memory() else "system"
    rows = run(args)
    print()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.clock} clock, "
        f"{allocator} allocator"
    )
    print(markdown(rows, args.batch))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(row) for row in rows], f, indent=2)


if __name__ == "__main__":
    main()
