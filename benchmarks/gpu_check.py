"""One command that checks the CUDA operators and networks on a GPU and prints one table.

Run it on any machine with a CUDA GPU (it takes a few minutes, under ten)::

    python benchmarks/gpu_check.py --out gpu-check

Sections, in order (``--skip SECTION`` leaves one out):

``tests``
    ``pytest -m cuda tests/``: the GPU parity tests (reference fixtures, float64 definitions,
    fp16/bf16 tolerances, TF32 off).
``sanitizer``
    ``compute-sanitizer`` memcheck and racecheck (when the tool is found next to ``nvcc``, in the
    CUDA toolkit, or on ``PATH``) on a driver that runs upfirdn2d and bias_act forward and
    backward on multi-tile images, a 70,000-plane batch, a filter larger than the specialised
    kernels and channels-last inputs.
``graph``
    CUDA-graph capture of the operators and of a small generator's and discriminator's forward
    pass; the replay must equal the eager result.
``devices``
    An operator with its inputs on ``cuda:1`` (when there is a second GPU), checked against the
    CPU result.
``ops``
    upsample2d, downsample2d, filter2d and bias_act at N=32, C=512 and C=128, 8-256 px, float16
    and float32, forward and forward+backward, timed with CUDA events: the CUDA kernels against
    the pure-PyTorch path (``impl="ref"``).
``train``
    The G+D training step (G forward, D forward, backward into both) in images per second at
    64 and 256 px: fused CUDA ops against the pure-PyTorch networks, contiguous and channels-last.

Without a GPU the script runs what it can and every other row says it needs a GPU (exit code 0).
``--device cpu`` times the ``ops`` and ``train`` sections on the CPU instead (the C++ backend
against ``ref``), which is how this script is tested without a GPU.

Reading the table: ``status`` is ``pass`` (the check passed, or the fused path is faster than
the pure-PyTorch one), ``FAIL`` (a test, sanitizer error, graph replay or device check failed:
the exit code is 1), ``slower`` (a timing row where the fused path lost; not a failure) or
``skipped`` (with the reason: no GPU, no second GPU, no compute-sanitizer, over the memory
budget). Timing rows give the median time of the fused path, of ``ref`` and the ratio
``ref / fused`` (above 1 = faster). The same rows, with every number, are written to
``DIR/gpu_check.json`` and ``DIR/gpu_check.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("tests", "sanitizer", "graph", "devices", "ops", "train")
NEEDS_GPU = "needs a CUDA GPU (none visible)"


@dataclass
class Row:
    """One line of the table; ``values`` holds the numbers behind ``result`` for the JSON."""

    section: str
    check: str
    status: str  # pass | FAIL | slower | skipped
    result: str
    values: dict = field(default_factory=dict)


class Report:
    def __init__(self, echo: bool = True) -> None:
        self.rows: list[Row] = []
        self.echo = echo

    def add(self, section: str, check: str, status: str, result: str, **values: object) -> Row:
        row = Row(section, check, status, result, dict(values))
        self.rows.append(row)
        if self.echo:
            print(f"[{section}] {check}: {status} - {result}", flush=True)
        return row

    @contextlib.contextmanager
    def guard(self, section: str, check: str) -> Iterator[None]:
        """Turn any exception of a check into a FAIL row, so the script never stops half-way."""
        try:
            yield
        except Exception as exc:  # every failure becomes a row
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.add(section, check, "FAIL", last[:300])


# --- environment ----------------------------------------------------------------------------------


def gpu_available() -> bool:
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def find_compute_sanitizer() -> str | None:
    """compute-sanitizer next to the toolkit medgan_aug builds with, or on PATH."""
    with contextlib.suppress(Exception):
        from medgan_aug.ops._toolkit import find_cuda_toolkit

        toolkit = find_cuda_toolkit()
        if toolkit is not None:
            for candidate in (
                Path(toolkit.root) / "bin" / "compute-sanitizer",
                Path(toolkit.root) / "compute-sanitizer" / "compute-sanitizer",
                Path(toolkit.root) / "bin" / "compute-sanitizer.exe",
            ):
                if candidate.is_file():
                    return str(candidate)
    return shutil.which("compute-sanitizer")


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "gpus": [],
        "compute_sanitizer": find_compute_sanitizer(),
    }
    if gpu_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            info["gpus"].append(
                {
                    "index": index,
                    "name": props.name,
                    "capability": f"{props.major}.{props.minor}",
                    "memory_gb": round(props.total_memory / 2**30, 1),
                }
            )
    return info


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median time of ``fn`` in milliseconds: CUDA events on a GPU, the wall clock on a CPU."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(max(repeats, 1)):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            fn()
            times.append((time.perf_counter() - begin) * 1e3)
    return statistics.median(times)


def fused_impl(device: torch.device) -> str:
    return "cuda" if device.type == "cuda" else "cpp"


# --- sections -------------------------------------------------------------------------------------


def check_tests(report: Report, args: argparse.Namespace) -> None:
    section = "tests"
    with report.guard(section, "pytest -m cuda"):
        xml = Path(args.out) / "pytest-cuda.xml"
        command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
        command += args.tests
        path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        begin = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
        seconds = time.perf_counter() - begin
        (Path(args.out) / "pytest-cuda.log").write_text(done.stdout + done.stderr)
        if not xml.is_file():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            report.add(section, "pytest -m cuda", "FAIL", f"exit {done.returncode}: {' | '.join(tail)}")
            return
        suite = ET.parse(xml).getroot()
        suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
        counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        text = f"{passed} passed, {counts['failures'] + counts['errors']} failed, {counts['skipped']} skipped"
        text += f" in {seconds:.0f} s (log: pytest-cuda.log)"
        if counts["failures"] or counts["errors"] or done.returncode not in (0, 5):
            status = "FAIL"
        elif passed == 0:
            status = "skipped"
            text += "; " + (NEEDS_GPU if not gpu_available() else "nothing ran")
        else:
            status = "pass"
        report.add(section, "pytest -m cuda", status, text, passed=passed, exit_code=done.returncode, **counts)


def driver_cases() -> None:
    """The sanitizer's workload: every kernel family on awkward shapes, forward and backward."""
    from medgan_aug.ops import bias_act, downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

    device = torch.device("cuda")
    torch.manual_seed(0)
    f4 = setup_filter([1, 3, 3, 1], device=device)
    f4x4 = setup_filter(torch.rand(4, 4), device=device, separable=False)
    f4s = setup_filter([1, 3, 3, 1], device=device, separable=True)
    f7 = setup_filter([1, 2, 3, 4, 3, 2, 1], device=device)
    cases: list[tuple[str, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]] = [
        ("upsample2d multi-tile", torch.randn(2, 3, 300, 257), lambda x: upsample2d(x, f4, impl="cuda")),
        ("downsample2d multi-tile", torch.randn(2, 3, 300, 257), lambda x: downsample2d(x, f4, impl="cuda")),
        ("filter2d 4x4 multi-tile", torch.randn(2, 5, 131, 197), lambda x: filter2d(x, f4x4, impl="cuda")),
        ("upsample2d separable", torch.randn(2, 5, 131, 197), lambda x: upsample2d(x, f4s, impl="cuda")),
        ("upfirdn2d 7-tap generic", torch.randn(2, 3, 67, 45), lambda x: upfirdn2d(x, f7, up=3, down=2, impl="cuda")),
        ("upsample2d 70,000 planes", torch.randn(70, 1000, 4, 4), lambda x: upsample2d(x, f4, impl="cuda")),
        ("downsample2d 70,000 planes", torch.randn(70, 1000, 8, 8), lambda x: downsample2d(x, f4, impl="cuda")),
        (
            "bias_act 70,000 planes",
            torch.randn(70, 1000, 4, 4),
            lambda x: bias_act(x, torch.ones(1000, device=device), act="lrelu", clamp=1.0, impl="cuda"),
        ),
        (
            "upsample2d channels-last",
            torch.randn(4, 32, 33, 17).to(memory_format=torch.channels_last),
            lambda x: upsample2d(x, f4, impl="cuda"),
        ),
        (
            "bias_act channels-last fp16",
            torch.randn(4, 32, 33, 17).half().to(memory_format=torch.channels_last),
            lambda x: bias_act(x, torch.ones(32, device=device, dtype=torch.half), act="swish", impl="cuda"),
        ),
    ]
    for name, x, op in cases:
        x = x.to(device).requires_grad_()
        y = op(x)
        (dx,) = torch.autograd.grad(y, x, torch.ones_like(y))
        torch.cuda.synchronize()
        print(f"ran {name}: {tuple(y.shape)}, grad {tuple(dx.shape)}", flush=True)


def check_sanitizer(report: Report, args: argparse.Namespace) -> None:
    section = "sanitizer"
    tool = find_compute_sanitizer()
    for name in ("memcheck", "racecheck"):
        if not gpu_available():
            where = f"found at {tool}" if tool else "not found either"
            report.add(section, name, "skipped", f"{NEEDS_GPU}; compute-sanitizer {where}")
            continue
        if tool is None:
            report.add(section, name, "skipped", "compute-sanitizer not found (CUDA toolkit bin/ or PATH)")
            continue
        with report.guard(section, name):
            command = [tool, "--tool", name, "--error-exitcode", "3", sys.executable, __file__, "--driver"]
            begin = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
            log = done.stdout + done.stderr
            (Path(args.out) / f"sanitizer-{name}.log").write_text(log)
            summary = [line for line in log.splitlines() if "ERROR SUMMARY" in line or "RACECHECK SUMMARY" in line]
            ran = log.count("ran ")
            text = f"{ran} cases, {summary[-1].strip(' =') if summary else 'no summary'}"
            text += f" in {time.perf_counter() - begin:.0f} s (log: sanitizer-{name}.log)"
            clean = done.returncode == 0 and all(" 0 error" in line or " 0 hazard" in line for line in summary)
            report.add(section, name, "pass" if clean else "FAIL", text, exit_code=done.returncode, cases=ran)


def small_networks(device: torch.device):
    from medgan_aug.nets import StyleDiscriminator, StyleGenerator

    torch.manual_seed(0)
    width = {"channel_base": 2048, "channel_max": 64}
    G = StyleGenerator(64, 0, 64, 32, 3, mapping_kwargs={"num_layers": 2}, synthesis_kwargs=width)
    D = StyleDiscriminator(0, 32, 3, epilogue_kwargs={"mbstd_group_size": 4}, **width)
    return G.eval().requires_grad_(False).to(device), D.eval().requires_grad_(False).to(device)


def check_graph(report: Report, args: argparse.Namespace) -> None:
    section = "graph"
    checks = ("capture upsample2d + bias_act", "capture G and D forward")
    if not gpu_available():
        for check in checks:
            report.add(section, check, "skipped", NEEDS_GPU)
        return
    from medgan_aug.ops import bias_act, setup_filter, upsample2d

    device = torch.device("cuda")

    def captured(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                eager = fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static = fn()
        graph.replay()
        torch.cuda.synchronize()
        return eager.clone(), static

    with report.guard(section, checks[0]):
        x = torch.randn(8, 64, 32, 32, device=device)
        b = torch.randn(64, device=device)
        f = setup_filter([1, 3, 3, 1], device=device)
        eager, replayed = captured(lambda: upsample2d(bias_act(x, b, act="lrelu", impl="cuda"), f, impl="cuda"))
        error = (eager - replayed).abs().max().item()
        report.add(section, checks[0], "pass" if error == 0 else "FAIL", f"replay - eager = {error:.2e}", error=error)
    with report.guard(section, checks[1]):
        G, D = small_networks(device)
        z = torch.randn(4, G.z_dim, device=device)
        eager, replayed = captured(lambda: D(G(z, noise_mode="const")))
        error = (eager - replayed).abs().max().item()
        status = "pass" if error <= 1e-5 * max(eager.abs().max().item(), 1) else "FAIL"
        report.add(section, checks[1], status, f"logits: replay - eager = {error:.2e}", error=error)


def check_devices(report: Report, args: argparse.Namespace) -> None:
    section = "devices"
    check = "upsample2d + bias_act on cuda:1"
    if not gpu_available():
        report.add(section, check, "skipped", NEEDS_GPU)
        return
    if torch.cuda.device_count() < 2:
        report.add(section, check, "skipped", "needs a second GPU (one visible)")
        return
    from medgan_aug.ops import bias_act, setup_filter, upsample2d

    with report.guard(section, check):
        x = torch.randn(4, 16, 37, 29, dtype=torch.float64)
        b = torch.randn(16, dtype=torch.float64)
        f = setup_filter([1, 3, 3, 1])
        expected = upsample2d(bias_act(x, b, act="lrelu", impl="ref"), f, impl="ref")
        # The current device stays cuda:0: the kernels must follow their inputs.
        second = torch.device("cuda", 1)
        xs = x.to(second).requires_grad_()
        y = upsample2d(bias_act(xs, b.to(second), act="lrelu", impl="cuda"), f.to(second), impl="cuda")
        y.sum().backward()
        error = ((y.cpu() - expected).abs().max() / expected.abs().max()).item()
        ok = y.device == second and xs.grad is not None and xs.grad.device == second and error < 1e-6
        report.add(section, check, "pass" if ok else "FAIL", f"relative error {error:.1e} on {y.device}", error=error)


def timing_row(
    report: Report, section: str, check: str, fused: str, fused_ms: dict, ref_ms: dict, **values: object
) -> None:
    ratios = {key: ref_ms[key] / fused_ms[key] for key in fused_ms}
    text = "; ".join(
        f"{key} {fused} {fused_ms[key]:.3f} ms, ref {ref_ms[key]:.3f} ms ({ratios[key]:.2f}x)" for key in fused_ms
    )
    status = "pass" if all(ratio >= 1 for ratio in ratios.values()) else "slower"
    values.update({f"{key}_ms_{fused}": fused_ms[key] for key in fused_ms})
    values.update({f"{key}_ms_ref": ref_ms[key] for key in ref_ms})
    values.update({f"{key}_speedup": ratios[key] for key in ratios})
    report.add(section, check, status, text, **values)


def check_ops(report: Report, args: argparse.Namespace) -> None:
    section = "ops"
    device = torch.device(args.device)
    names = ("upsample2d", "downsample2d", "filter2d", "bias_act")
    dtypes = {"fp16": torch.float16, "fp32": torch.float32}
    if device.type == "cuda" and not gpu_available():
        for name in names:
            channels = "/".join(map(str, args.channels))
            sizes = f"{min(args.sizes)}-{max(args.sizes)} px"
            report.add(section, f"{name} N={args.batch}, C={channels}, {sizes}, fp16/fp32", "skipped", NEEDS_GPU)
        return
    fused = fused_impl(device)
    budget = args.max_gb * 2**30
    for name in names:
        for channels in args.channels:
            for size in args.sizes:
                for label, dtype in dtypes.items():
                    if device.type == "cpu" and dtype == torch.float16:
                        continue  # half precision is a GPU format; the CPU times float32 only
                    check = f"{name} {args.batch}x{channels}x{size}x{size} {label}"
                    # Input, upsampled output, their gradients and ref's temporaries: ~12 inputs' worth.
                    need = 12 * args.batch * channels * size * size * torch.tensor([], dtype=dtype).element_size()
                    if need > budget:
                        report.add(section, check, "skipped", f"over the {args.max_gb:g} GB budget (--max-gb)")
                        continue
                    with report.guard(section, check):
                        times = time_op(name, args.batch, channels, size, dtype, device, (fused, "ref"), args.repeats)
                        timing_row(
                            report,
                            section,
                            check,
                            fused,
                            times[fused],
                            times["ref"],
                            op=name,
                            batch=args.batch,
                            channels=channels,
                            size=size,
                            dtype=label,
                        )
                    if device.type == "cuda":
                        torch.cuda.empty_cache()


def time_op(
    name: str,
    batch: int,
    channels: int,
    size: int,
    dtype: torch.dtype,
    device: torch.device,
    impls: tuple[str, ...],
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Median forward and forward+backward milliseconds of one operator per implementation."""
    from medgan_aug.ops import bias_act, downsample2d, filter2d, setup_filter, upsample2d

    f = setup_filter([1, 3, 3, 1], device=device)
    x = torch.randn(batch, channels, size, size, device=device, dtype=dtype)
    b = torch.randn(channels, device=device, dtype=dtype)

    def op(t: torch.Tensor, impl: str) -> torch.Tensor:
        if name == "bias_act":
            return bias_act(t, b, act="lrelu", clamp=256, impl=impl)
        return {"upsample2d": upsample2d, "downsample2d": downsample2d, "filter2d": filter2d}[name](t, f, impl=impl)

    times = {}
    for impl in impls:
        xg = x.detach().requires_grad_()
        dy = torch.ones_like(op(x, impl))

        def forward(impl: str = impl) -> None:
            with torch.no_grad():
                op(x, impl)

        def forward_backward(impl: str = impl, xg: torch.Tensor = xg, dy: torch.Tensor = dy) -> None:
            op(xg, impl).backward(dy)

        times[impl] = {
            "fwd": median_ms(forward, device, repeats),
            "fwd+bwd": median_ms(forward_backward, device, repeats),
        }
    return times


def check_train(report: Report, args: argparse.Namespace) -> None:
    section = "train"
    device = torch.device(args.device)
    if device.type == "cuda" and not gpu_available():
        for resolution in args.resolutions:
            report.add(section, f"G+D step {resolution} px, batch {args.train_batch}", "skipped", NEEDS_GPU)
        return
    sys.path.insert(0, str(HERE))
    from medgan_aug.ops import ENV_VAR
    from nets_bench import build_networks, train_step  # the networks and step nets_bench.py times

    fused = fused_impl(device)
    saved = os.environ.get(ENV_VAR)
    try:
        for resolution in args.resolutions:
            for memory_format in ("contiguous", "channels_last"):
                check = f"G+D step {resolution} px, batch {args.train_batch}, {memory_format}"
                with report.guard(section, check):
                    torch.manual_seed(0)
                    G, D = build_networks(resolution, args.train_channels, device, channel_max=args.train_cmax)
                    if memory_format == "channels_last":
                        G.to(memory_format=torch.channels_last)
                        D.to(memory_format=torch.channels_last)
                    z = torch.randn(args.train_batch, G.z_dim, device=device)
                    img_s: dict[str, float] = {}
                    ms: dict[str, float] = {}
                    step = functools.partial(train_step, G, D, z)
                    for impl in (fused, "ref"):
                        os.environ[ENV_VAR] = impl
                        ms[impl] = median_ms(step, device, args.train_repeats, warmup=1)
                        img_s[impl] = args.train_batch / ms[impl] * 1e3
                    ratio = img_s[fused] / img_s["ref"]
                    text = f"{fused} {img_s[fused]:.1f} img/s, ref {img_s['ref']:.1f} img/s ({ratio:.2f}x)"
                    report.add(
                        section,
                        check,
                        "pass" if ratio >= 1 else "slower",
                        text,
                        resolution=resolution,
                        memory_format=memory_format,
                        **{f"img_s_{key}": value for key, value in img_s.items()},
                        speedup=ratio,
                    )
                    del G, D
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
    finally:
        if saved is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = saved


# --- output ---------------------------------------------------------------------------------------


def markdown(report: Report, info: dict, seconds: float) -> str:
    gpus = ", ".join(f"{g['name']} (sm_{g['capability'].replace('.', '')}, {g['memory_gb']} GB)" for g in info["gpus"])
    lines = [
        "# medgan-aug GPU check",
        "",
        f"torch {info['torch']} (CUDA {info['torch_cuda']}), Python {info['python']}, {info['platform']}",
        f"GPUs: {gpus or 'none'}; compute-sanitizer: {info['compute_sanitizer'] or 'not found'}; {seconds:.0f} s",
        "",
        "| section | check | status | result |",
        "|---|---|---|---|",
    ]
    for row in report.rows:
        lines.append(f"| {row.section} | {row.check} | {row.status} | {row.result.replace('|', '/')} |")
    statuses = ("pass", "FAIL", "slower", "skipped")
    counts = {status: sum(row.status == status for row in report.rows) for status in statuses}
    lines += ["", ", ".join(f"{count} {status}" for status, count in counts.items())]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu-check", help="directory for gpu_check.json, gpu_check.md and logs")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="device of the timings")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    parser.add_argument("--tests", nargs="*", default=["tests"], help="what pytest -m cuda collects")
    parser.add_argument("--batch", type=int, default=32, help="N of the operator timings")
    parser.add_argument("--channels", type=int, nargs="+", default=[512, 128], help="C of the operator timings")
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256], help="H = W of the timings")
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per operator (median)")
    parser.add_argument("--max-gb", type=float, default=8.0, help="skip operator shapes needing more memory")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256], help="training-step resolutions")
    parser.add_argument("--train-batch", type=int, default=16, help="batch of the training step")
    parser.add_argument("--train-channels", type=int, default=1, help="image channels of the training step")
    parser.add_argument("--train-cmax", type=int, default=512, help="channel_max of the training-step networks")
    parser.add_argument("--train-repeats", type=int, default=5, help="timed training steps (median)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed to each subprocess")
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.driver:
        driver_cases()
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    begin = time.perf_counter()
    info = machine()
    report = Report()
    checks = {
        "tests": check_tests,
        "sanitizer": check_sanitizer,
        "graph": check_graph,
        "devices": check_devices,
        "ops": check_ops,
        "train": check_train,
    }
    for section, check in checks.items():
        if section in args.skip:
            report.add(section, "-", "skipped", "left out (--skip)")
            continue
        with report.guard(section, "(section)"):
            check(report, args)
    seconds = time.perf_counter() - begin
    text = markdown(report, info, seconds)
    (out / "gpu_check.md").write_text(text)
    payload = {
        "machine": info,
        "options": {key: value for key, value in vars(args).items() if key != "driver"},
        "seconds": seconds,
        "rows": [asdict(row) for row in report.rows],
    }
    (out / "gpu_check.json").write_text(json.dumps(payload, indent=2))
    print()
    print(text)
    return 1 if any(row.status == "FAIL" for row in report.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
