"""Speed of the fused operators per backend, against the machine's roofline.

Times forward and forward+backward of every op at the shapes a 256 px
StyleGAN2 generator and discriminator use, for every backend that runs on the
chosen device, as the median of repeats after warm-up.  Rows marked
``channels_last`` give every backend (``ref`` included) the same
channels-last input; each returns a channels-last output.  Prints a Markdown
table with the speedup over ``ref``, the achieved bandwidth (bytes that must
move: inputs read once, outputs written once) and GFLOP/s (useful
multiply-adds only, never the zeros that upsampling inserts), next to the
measured copy bandwidth and matmul peak of the machine.

The backends of a case are timed interleaved: each repeat runs every backend
once, in an order that rotates from repeat to repeat, and each backend's
entry is the median of its own repeats.  Timed one after the other, each
backend would see the allocator and caches in the state its own previous
call left (a backend whose large temporaries were just freed gets its output
on reused pages, the other on fresh ones), and any drift of the machine's
load would fall on one backend only; interleaved, both see the same mix.

Usage::

    python benchmarks/ops_bench.py [--device cpu|cuda] [--repeats 15] [--rounds 3] [--json out.json]
                                   [--allocator retain|system]
                                   [--cases "downsample2d [1,3,3,1] 4x4 8x128x64x64" ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from medgan_aug.ops import (
    available_impls,
    bias_act,
    downsample2d,
    filter2d,
    modulated_conv2d,
    setup_filter,
    upsample2d,
)
from medgan_aug.runtime import retain_freed_memory


@dataclass
class Row:
    op: str
    shape: str
    impl: str
    fwd_ms: float
    fwd_bwd_ms: float
    fwd_speedup: float
    fwd_bwd_speedup: float
    fwd_gbps: float
    fwd_gflops: float


@dataclass
class Case:
    op: str
    shape: str
    # run(impl, backward) -> None; returns after the work is done on the device.
    run: Callable[[str, bool], None]
    fwd_bytes: int
    fwd_macs: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(
    fn: Callable[[], None],
    device: torch.device,
    repeats: int,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median seconds of ``fn`` after ``warmup`` calls, by ``clock``."""
    return interleaved_medians({"fn": fn}, device, repeats, warmup, clock)["fn"]


def interleaved_medians(
    fns: dict[str, Callable[[], None]],
    device: torch.device,
    repeats: int,
    warmup: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds of each function, timed in turns (see the module docstring)."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    _sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = clock()
            fns[name]()
            _sync(device)
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def copy_bandwidth(device: torch.device, repeats: int) -> float:
    """GB/s of a large tensor copy (read + write)."""
    src = torch.empty(64 * 2**20, dtype=torch.float32, device=device).fill_(1)
    dst = torch.empty_like(src)
    seconds = median_seconds(lambda: dst.copy_(src), device, repeats)
    return 2 * src.numel() * 4 / seconds / 1e9


def fresh_output_bandwidth(device: torch.device, repeats: int) -> float:
    """GB/s of writing a newly allocated 64 MiB tensor.

    Under the C library's default allocator (``--allocator system``), outputs
    of 32 MiB and more are fresh mappings on Linux, and the kernel zero-fills
    each page on first touch: this, not the copy bandwidth, then bounds ops
    whose large outputs are freshly allocated.  With freed memory retained
    (the default, as the command line runs) the tensor reuses freed pages.
    """
    numel = 16 * 2**20
    seconds = median_seconds(lambda: torch.empty(numel, device=device).fill_(1), device, repeats)
    return numel * 4 / seconds / 1e9


def matmul_peak(device: torch.device, repeats: int) -> float:
    """GFLOP/s of a float32 square matmul."""
    n = 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    seconds = median_seconds(lambda: torch.mm(a, b), device, repeats)
    return 2 * n**3 / seconds / 1e9


def _resample_case(
    name: str,
    fn: Callable,
    shape: tuple[int, ...],
    f: torch.Tensor,
    up: int,
    device: torch.device,
    channels_last: bool = False,
) -> Case:
    x = torch.randn(shape, device=device)
    if channels_last:
        # Every impl, ref included, gets the same channels_last input and returns channels_last.
        x = x.contiguous(memory_format=torch.channels_last)
    out = fn(x, f, impl="ref")
    # The upstream gradient exists before the backward pass; allocating it is not the op's cost.
    dy = torch.ones_like(out)
    fw = f.shape[-1]
    # Polyphase taps per output pixel and axis: a factor-2 upsampler touches fw/2 inputs.
    taps = fw / up
    if f.ndim == 1:
        n, c, h, _ = x.shape
        macs = int(n * c * h * out.shape[3] * taps + out.numel() * taps)
    else:
        macs = int(out.numel() * taps * taps)

    def run(impl: str, backward: bool) -> None:
        inp = x.detach().requires_grad_(backward)
        y = fn(inp, f, impl=impl)
        if backward:
            y.backward(dy)

    label = f"{name} [1,3,3,1] {'separable' if f.ndim == 1 else '4x4'}"
    return Case(label, _shape_label(shape, channels_last), run, (x.numel() + out.numel()) * 4, macs)


def _shape_label(shape: tuple[int, ...], channels_last: bool) -> str:
    return "x".join(map(str, shape)) + (" channels_last" if channels_last else "")


def _bias_act_case(shape: tuple[int, ...], device: torch.device, channels_last: bool = False) -> Case:
    x = torch.randn(shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    b = torch.randn(shape[1], device=device)
    dy = torch.ones_like(x)

    def run(impl: str, backward: bool) -> None:
        inp = x.detach().requires_grad_(backward)
        bias = b.detach().requires_grad_(backward)
        y = bias_act(inp, bias, act="lrelu", impl=impl)
        if backward:
            y.backward(dy)

    return Case("bias_act lrelu", _shape_label(shape, channels_last), run, 2 * x.numel() * 4, x.numel())


def _modconv_case(batch: int, cin: int, cout: int, res: int, up: int, device: torch.device) -> Case:
    x = torch.randn(batch, cin, res, res, device=device)
    w = torch.randn(cout, cin, 3, 3, device=device)
    s = torch.randn(batch, cin, device=device)
    f = setup_filter([1, 3, 3, 1], device=device)
    out_res = res * up
    dy = torch.ones(batch, cout, out_res, out_res, device=device)

    def run(impl: str, backward: bool) -> None:
        inputs = [t.detach().requires_grad_(backward) for t in (x, w, s)]
        y = modulated_conv2d(*inputs, up=up, padding=1, resample_filter=f, impl=impl)
        if backward:
            y.backward(dy)

    macs = batch * cout * cin * 9 * res * res + (batch * cout * out_res * out_res * 4 if up > 1 else 0)
    moved = (x.numel() + w.numel() + s.numel() + batch * cout * out_res * out_res) * 4
    return Case(f"modulated_conv2d 3x3 up={up}", f"x{batch}x{cin}x{res}x{res}->{cout}", run, moved, macs)


def cases(device: torch.device) -> list[Case]:
    separable = setup_filter([1, 3, 3, 1], device=device, separable=True)
    full = setup_filter([1, 3, 3, 1], device=device)
    found = []
    for shape in ((8, 128, 64, 64), (8, 64, 128, 128)):
        for f in (separable, full):
            found.append(_resample_case("upsample2d", upsample2d, shape, f, 2, device))
            found.append(_resample_case("downsample2d", downsample2d, shape, f, 1, device))
            found.append(_resample_case("filter2d", filter2d, shape, f, 1, device))
    found.append(_bias_act_case((8, 128, 64, 64), device))
    # channels_last ([N, H, W, C] in memory) at the discriminator's 64 px shape.
    shape = (8, 128, 64, 64)
    for f in (separable, full):
        found.append(_resample_case("upsample2d", upsample2d, shape, f, 2, device, channels_last=True))
        found.append(_resample_case("downsample2d", downsample2d, shape, f, 1, device, channels_last=True))
    found.append(_resample_case("filter2d", filter2d, shape, full, 1, device, channels_last=True))
    found.append(_bias_act_case(shape, device, channels_last=True))
    found.append(_modconv_case(8, 128, 128, 64, 1, device))
    found.append(_modconv_case(8, 256, 128, 32, 2, device))
    return found


def run_benchmark(
    device: torch.device,
    repeats: int,
    impls: list[str] | None = None,
    rounds: int = 1,
    selected: list[str] | None = None,
    allocator: str = "system",
) -> tuple[list[Row], dict]:
    """Time every case (or those whose "op shape" contains one of ``selected``).

    ``allocator`` names the allocator setting in effect, for the record.

    With several rounds, each entry is the median over rounds: rounds damp the
    drift of the allocator's state (whether an output lands on reused or fresh
    pages), which moves small-shape timings by up to 2x.
    """
    impls = impls or available_impls(device)
    all_cases = [
        case for case in cases(device) if not selected or any(s in f"{case.op} {case.shape}" for s in selected)
    ]
    if not all_cases:
        raise SystemExit(f"no case matches {selected}")
    samples: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for round_index in range(rounds):
        for index, case in enumerate(all_cases):
            fwd = interleaved_medians(
                {impl: lambda run=case.run, impl=impl: run(impl, False) for impl in impls}, device, repeats
            )
            both = interleaved_medians(
                {impl: lambda run=case.run, impl=impl: run(impl, True) for impl in impls}, device, repeats
            )
            for impl in impls:
                samples.setdefault((index, impl), []).append((fwd[impl], both[impl]))
            print(f"  round {round_index + 1}/{rounds}: {case.op} {case.shape}", flush=True)
    rows = []
    for index, case in enumerate(all_cases):
        timings = {}
        for impl in impls:
            fwds, boths = zip(*samples[(index, impl)], strict=True)
            timings[impl] = (statistics.median(fwds), statistics.median(boths))
        ref_fwd, ref_both = timings["ref"]
        for impl, (fwd, both) in timings.items():
            rows.append(
                Row(
                    case.op,
                    case.shape,
                    impl,
                    fwd * 1e3,
                    both * 1e3,
                    ref_fwd / fwd,
                    ref_both / both,
                    case.fwd_bytes / fwd / 1e9,
                    2 * case.fwd_macs / fwd / 1e9,
                )
            )
    machine = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "copy_gbps": copy_bandwidth(device, repeats),
        "fresh_output_gbps": fresh_output_bandwidth(device, repeats),
        "matmul_gflops": matmul_peak(device, repeats),
        "torch": torch.__version__,
        "allocator": allocator,
    }
    return rows, machine


def markdown(rows: list[Row], machine: dict) -> str:
    lines = [
        f"Device {machine['device']} ({machine['threads']} threads), torch {machine['torch']}: "
        f"copy {machine['copy_gbps']:.1f} GB/s, writing a newly allocated tensor "
        f"{machine['fresh_output_gbps']:.1f} GB/s, float32 matmul {machine['matmul_gflops']:.0f} GFLOP/s, "
        f"{machine['allocator']} allocator.",
        "",
        "| op | shape | impl | fwd ms | fwd+bwd ms | fwd speedup | fwd+bwd speedup | fwd GB/s | fwd GFLOP/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.op} | {r.shape} | {r.impl} | {r.fwd_ms:.2f} | {r.fwd_bwd_ms:.2f} | {r.fwd_speedup:.1f}x | "
            f"{r.fwd_bwd_speedup:.1f}x | {r.fwd_gbps:.2f} | {r.fwd_gflops:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the suite; report per-entry medians")
    parser.add_argument("--impls", help="comma-separated subset, e.g. ref,cpp (ref is always needed)")
    parser.add_argument("--json", help="also write the rows and machine facts to this file")
    parser.add_argument(
        "--cases",
        action="append",
        help='time only the rows whose "op shape" contains this substring (repeatable), '
        'e.g. --cases "downsample2d [1,3,3,1] separable 8x128x64x64" --cases upsample2d',
    )
    parser.add_argument(
        "--allocator",
        default="retain",
        choices=["retain", "system"],
        help="retain: freed memory is kept for reuse, as the command line does (retain_freed_memory); "
        "system: the C library's default, which maps large outputs afresh on every call",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    impls = args.impls.split(",") if args.impls else None
    allocator = "retain" if args.allocator == "retain" and retain_freed_memory() else "system"
    rows, machine = run_benchmark(device, args.repeats, impls, args.rounds, args.cases, allocator)
    print(markdown(rows, machine))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "rows": [asdict(r) for r in rows]}, fh, indent=2)


if __name__ == "__main__":
    main()
