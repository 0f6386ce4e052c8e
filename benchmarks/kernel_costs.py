"""Static cost table of the CUDA kernels: registers, shared memory, spills and SASS instructions.

This is a proxy, not a timing.  It compiles the CUDA sources (device code
only) for each architecture with ``nvcc -Xptxas -v`` and reads, per kernel
instantiation (every dtype and every upfirdn2d specialisation):

- registers per thread, static shared memory per block, spill stores/loads
  and stack frame, from ptxas;
- when ``cuobjdump`` is found (the toolkit's ``bin/``, ``PATH`` or the
  ``nvidia-cuda-cuobjdump`` wheel, which needs ``nvdisasm`` beside it, e.g.
  from the ``nvidia-cuda-nvdisasm`` wheel), from the SASS: the whole kernel's
  instruction count, its FMAs, its inlined integer divisions/modulos
  (``I2F.U32.RP``, which starts each of them) and the hot loop: the innermost
  loop that holds FMAs, with its length and FMAs per iteration.  "instr/FMA"
  (hot-loop instructions per FMA) compares kernels that compute a different
  number of outputs per iteration.

Fewer instructions, registers and spills make a kernel cheaper to run, but
how fast it runs also depends on memory traffic, occupancy and the GPU, which
only a timing on a GPU shows (``benchmarks/gpu_check.py`` where it exists).
Without a CUDA toolkit the script prints why it skips and exits 0.

Usage::

    python benchmarks/kernel_costs.py [--arch 80 90] [--sources upfirdn2d bias_act]
        [--csrc DIR] [--json out.json] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DTYPES = {"double": "f64", "float": "f32", "c10::Half": "f16", "c10::BFloat16": "bf16"}


@dataclass
class KernelCost:
    arch: str
    source: str
    kernel: str
    variant: str
    dtype: str
    registers: int = 0
    shared_bytes: int = 0
    stack_bytes: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    sass: int | None = None
    fma: int | None = None
    divisions: int | None = None
    loop: int | None = None
    loop_fma: int | None = None
    mangled: str = field(default="", repr=False)


def find_cuobjdump(toolkit_root: Path) -> str | None:
    """``cuobjdump`` of the toolkit, on PATH, or from the nvidia-cuda-cuobjdump wheel."""
    for name in ("cuobjdump", "cuobjdump.exe"):
        candidate = toolkit_root / "bin" / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("cuobjdump")
    if found:
        return found
    spec = importlib.util.find_spec("nvidia")
    for root in spec.submodule_search_locations or [] if spec else []:
        for candidate in sorted(Path(root).glob("*/bin/cuobjdump*")):
            if candidate.is_file():
                return str(candidate)
    return None


def demangle(names: list[str]) -> dict[str, str]:
    tool = shutil.which("c++filt")
    if tool is None or not names:
        return {n: n for n in names}
    out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return dict(zip(names, out.splitlines(), strict=True))


def specialisation_labels(csrc: Path) -> dict[int, str]:
    """Row index -> label of kUpfirdn2dSpecialisations (absent before the table existed)."""
    header = csrc / "cuda" / "upfirdn2d_special.cuh"
    if not header.is_file():
        return {}
    text = header.read_text()
    table = text[text.index("kUpfirdn2dSpecialisations[] = {") :]
    table = table[: table.index("};")]
    rows = re.findall(r"\{(\d+), (\d+), (\d+), (true|false), (\d+), (\d+)\}", table)
    labels = {}
    for i, (up, down, taps, separable, tw, th) in enumerate(rows):
        kind = f"1-D <={taps} taps" if separable == "true" else f"2-D <={taps}x{taps}"
        labels[i] = f"up{up} down{down} {kind}, tile {tw}x{th}"
    return labels


def parse_ptxas(log: str, arch: str, source: str) -> dict[str, KernelCost]:
    costs: dict[str, KernelCost] = {}
    current = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\S+)' for '(sm_\d+)'", line)
        if m:
            current = costs.setdefault(m.group(1), KernelCost(arch, source, "", "", "", mangled=m.group(1)))
            continue
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            current = costs.get(m.group(1), current)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            current.stack_bytes, current.spill_stores, current.spill_loads = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current.registers = int(m.group(1))
            smem = re.search(r"(\d+) bytes smem", line)
            current.shared_bytes = int(smem.group(1)) if smem else 0
    return costs


def parse_sass(dump: str) -> dict[str, dict[str, int]]:
    """Per mangled function: instruction count, FMAs, divisions, hot loop."""
    result: dict[str, dict[str, int]] = {}
    for chunk in re.split(r"\n\s*Function : ", dump)[1:]:
        name = chunk.split()[0]
        labels: dict[str, int] = {}
        instructions: list[tuple[int, str]] = []
        for line in chunk.splitlines()[1:]:
            label = re.match(r"\s*(\.L_x_\d+):", line)
            if label:
                labels[label.group(1)] = len(instructions)
                continue
            m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;", line)
            if m:
                text = re.sub(r"^@!?U?P\w+\s+", "", m.group(2).strip())
                instructions.append((int(m.group(1), 16), text))
        if not instructions:
            continue
        index_of = {address: i for i, (address, _) in enumerate(instructions)}
        opcodes = [text.split()[0] for _, text in instructions]
        fma_at = [op.startswith(("FFMA", "DFMA")) for op in opcodes]
        loop_len = loop_fma = None
        for i, (_, text) in enumerate(instructions):
            if not text.startswith("BRA"):
                continue
            target = None
            m = re.search(r"`?\(?(\.L_x_\d+)\)?", text)
            if m and m.group(1) in labels:
                target = labels[m.group(1)]
            else:
                m = re.search(r"0x([0-9a-f]+)", text)
                if m:
                    target = index_of.get(int(m.group(1), 16))
            if target is None or target > i:
                continue
            fmas = sum(fma_at[target : i + 1])
            if fmas and (loop_len is None or i + 1 - target < loop_len):
                loop_len, loop_fma = i + 1 - target, fmas
        result[name] = {
            "sass": len(instructions),
            "fma": sum(fma_at),
            "divisions": sum(op.startswith("I2F.U32.RP") for op in opcodes),
            "loop": loop_len,
            "loop_fma": loop_fma,
        }
    return result


def describe(cost: KernelCost, readable: str, labels: dict[int, str]) -> None:
    m = re.search(r"medgan_aug::cuda::(\w+)<([^>]*(?:<[^>]*>)?[^>]*)>", readable)
    if not m:
        cost.kernel = readable
        return
    cost.kernel = m.group(1)
    args = [a.strip() for a in re.split(r",\s*(?![^<]*>)", m.group(2))]
    cost.dtype = DTYPES.get(args[0], args[0])
    if len(args) > 2 and args[2].isdigit():
        cost.variant = labels.get(int(args[2]), f"row {args[2]}")
    else:
        cost.variant = "generic"


def compile_costs(
    nvcc: str, cuobjdump: str | None, csrc: Path, source: str, arch: str, workdir: Path
) -> list[KernelCost]:
    import torch

    from medgan_aug.ops.extension import cpp_extension_module

    include_paths = cpp_extension_module().include_paths

    # The language standard cpp_extension compiles with: C++20 since torch 2.8, C++17 before.
    version = tuple(int(v) for v in re.findall(r"\d+", torch.__version__)[:2])
    standard = "c++20" if version >= (2, 8) else "c++17"
    cubin = workdir / f"{source}_sm{arch}.cubin"
    command = [
        nvcc,
        "-cubin",
        f"-arch=sm_{arch}",
        "-O3",
        f"-std={standard}",
        "--expt-relaxed-constexpr",
        "-Xptxas",
        "-v",
        "-I",
        str(csrc),
        *[arg for p in include_paths(device_type="cuda") for arg in ("-isystem", p)],
        "-DTORCH_API_INCLUDE_EXTENSION_H",
        "-D__CUDA_NO_HALF_OPERATORS__",
        "-D__CUDA_NO_HALF_CONVERSIONS__",
        "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
        "-D__CUDA_NO_HALF2_OPERATORS__",
        "-o",
        str(cubin),
        str(csrc / "cuda" / f"{source}.cu"),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"nvcc failed on {source}.cu for sm_{arch}:\n{run.stderr[-4000:]}")
    costs = parse_ptxas(run.stdout + run.stderr, f"sm_{arch}", source)
    readable = demangle(list(costs))
    labels = specialisation_labels(csrc)
    for name, cost in costs.items():
        describe(cost, readable[name], labels)
    if cuobjdump is not None:
        # cuobjdump runs nvdisasm, which the wheels put beside it.
        env = {**os.environ, "NVDISASM_PATH": str(Path(cuobjdump).parent)}
        dump = subprocess.run(
            [cuobjdump, "--dump-sass", str(cubin)], capture_output=True, text=True, check=True, env=env
        )
        for name, stats in parse_sass(dump.stdout).items():
            if name in costs:
                for key, value in stats.items():
                    setattr(costs[name], key, value)
    return sorted(costs.values(), key=lambda c: (c.arch, c.source, c.kernel, c.variant, c.dtype))


def markdown(costs: list[KernelCost], with_sass: bool) -> str:
    head = ["arch", "kernel", "variant", "dtype", "regs", "smem B", "stack B", "spill st/ld"]
    if with_sass:
        head += ["SASS", "FMA", "int div", "hot loop", "loop FMA", "instr/FMA"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in costs:
        row = [c.arch, c.kernel, c.variant, c.dtype, c.registers, c.shared_bytes, c.stack_bytes]
        row.append(f"{c.spill_stores}/{c.spill_loads}")
        if with_sass:
            ratio = f"{c.loop / c.loop_fma:.1f}" if c.loop and c.loop_fma else "-"
            row += [c.sass, c.fma, c.divisions, c.loop or "-", c.loop_fma or "-", ratio]
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["80", "90"], help="SM versions (default: 80 90)")
    parser.add_argument("--sources", nargs="+", default=["upfirdn2d", "bias_act"], help="csrc/cuda/*.cu files (stems)")
    parser.add_argument("--csrc", type=Path, default=None, help="csrc folder (default: the installed package's)")
    parser.add_argument("--json", type=Path, help="write the table as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the Markdown table here")
    args = parser.parse_args(argv)

    from medgan_aug.ops._toolkit import find_cuda_toolkit

    toolkit = find_cuda_toolkit()
    if toolkit is None:
        print("kernel_costs: skipped: no CUDA toolkit found (set CUDA_HOME to one to get the static cost table)")
        return 0
    nvcc = next((str(p) for p in (toolkit.root / "bin" / n for n in ("nvcc", "nvcc.exe")) if p.is_file()), None)
    if nvcc is None:
        print(f"kernel_costs: skipped: no nvcc in {toolkit.root / 'bin'}")
        return 0
    from medgan_aug.ops.extension import CSRC

    csrc = args.csrc or CSRC
    cuobjdump = find_cuobjdump(toolkit.root)
    print(f"kernel_costs: nvcc {toolkit.version} at {toolkit.root}; sources {csrc}")
    print(f"kernel_costs: cuobjdump {cuobjdump or 'not found: no SASS columns'}")
    print("kernel_costs: a static proxy (instructions, registers, shared memory), not a timing")
    costs: list[KernelCost] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            for source in args.sources:
                costs += compile_costs(nvcc, cuobjdump, csrc, source, arch, Path(tmp))
    table = markdown(costs, cuobjdump is not None)
    print(table)
    print(f"\nkernel_costs: {len(costs)} kernels in {time.perf_counter() - start:.0f} s")
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if args.json:
        rows = [{k: v for k, v in asdict(c).items()} for c in costs]
        args.json.write_text(json.dumps({"cuobjdump": cuobjdump is not None, "kernels": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
