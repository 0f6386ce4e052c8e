"""Toolchain report for the compiled operator backends (``medgan-aug ops doctor``)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from . import extension
from ._backend import ENV_VAR
from ._toolkit import CudaToolkit, _is_toolkit_root, find_cuda_toolkit
from .winograd import CONV_ENV_VAR

__all__ = ["doctor_report"]


def _first_line(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else None


def _compiler() -> str:
    name = os.environ.get("CXX", "c++")
    path = shutil.which(name)
    if path is None:
        return f"NOT FOUND ({name}; set CXX or install g++/clang++)"
    return f"{path}: {_first_line([path, '--version']) or 'version unknown'}"


def _ninja() -> str:
    path = extension.ninja_path()
    if path is None:
        return "NOT FOUND (pip install ninja)"
    return f"{path} {_first_line([path, '--version']) or ''}".strip()


def _torch_cuda_guess() -> str:
    guess = extension.cpp_extension_module().CUDA_HOME
    if guess is None:
        return "none"
    complete = _is_toolkit_root(Path(guess))
    return guess if complete else f"{guess} (incomplete: medgan-aug overrides it when building)"


def _arch_list() -> str:
    archs, reason = extension.cuda_arch_list()
    return f"{archs} ({reason})"


def _toolkit_lines(toolkit: CudaToolkit | None) -> list[str]:
    torch_cuda = torch.version.cuda
    if toolkit is None:
        wanted = f"a CUDA {torch_cuda} toolkit" if torch_cuda else "a CUDA toolkit"
        return [
            f"CUDA toolkit    NOT FOUND (torch's CUDA {torch_cuda or 'none'}; install {wanted} and set CUDA_HOME)",
            "nvcc            not found",
        ]
    if toolkit.matches_torch:
        verdict = f"matches torch's CUDA {torch_cuda}"
    elif toolkit.matches_torch is None:
        verdict = "torch has no CUDA" if torch_cuda is None else "version unknown"
    else:
        verdict = f"MISMATCH: torch was built with CUDA {torch_cuda}; CUDA builds will fail"
    lines = [
        f"CUDA toolkit    {toolkit.root} via {toolkit.source}",
        f"nvcc            {toolkit.nvcc} (release {toolkit.version or 'unknown'}; {verdict})",
    ]
    lines += [f"  skipped       {other}: another major version than torch's CUDA" for other in toolkit.passed_over]
    return lines


def _cache_lines() -> list[str]:
    lines = [f"ops cache       {extension.cache_root()}"]
    prebuilt = os.environ.get(extension.LIB_ENV_VAR)
    if prebuilt:
        lines.append(f"${extension.LIB_ENV_VAR} {prebuilt} (prebuilt libraries are loaded; nothing is built)")
    for library in extension.LIBRARIES:
        try:
            entry = extension.cache_entry(library)
        except Exception as exc:  # a report must not fail on one library
            lines.append(f"  {library:<13} cache state unknown: {exc}")
            continue
        if entry.key is None:
            missing = ", ".join(name for name, value in entry.fingerprint["compilers"].items() if value is None)
            state = f"no compiler ({missing}) and nothing cached for this torch: cannot be built"
        elif entry.built:
            state = f"built: {entry.library_file}"
        else:
            state = f"not built (would go to {entry.directory})"
        lines.append(f"  {library:<13} key {entry.key or '-':<16}  {state}")
    return lines


def _backend_line(library: extension.Library, try_load: bool) -> str:
    if try_load and extension.load(library):
        return f"loads ({extension.loaded_from(library)})"
    error = extension.load_error(library)
    if error:
        return "FAILED: " + error.strip().splitlines()[-1][:300]
    return "not loaded"


def doctor_report(load_cuda: bool | None = None) -> str:
    """Describe the toolchain and which operator backends load.

    Parameters
    ----------
    load_cuda : bool, optional
        Try to build/load the CUDA backend; default only when a GPU is visible.

    Returns
    -------
    str
        A multi-line report.
    """
    toolkit = find_cuda_toolkit()
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if load_cuda is None:
        load_cuda = bool(gpus)
    lines = [
        f"medgan-aug      {sys.modules['medgan_aug'].__version__}",
        f"python          {platform.python_version()} ({sys.executable})",
        f"platform        {platform.platform()}",
        f"torch           {torch.__version__} (CUDA {torch.version.cuda or 'none'})",
        f"GPUs            {', '.join(gpus) if gpus else 'none visible'}",
        f"C++ compiler    {_compiler()}",
        f"ninja           {_ninja()}",
        *_toolkit_lines(toolkit),
        f"torch's guess   {_torch_cuda_guess()}",
        f"CUDA arch list  {_arch_list()}",
        *_cache_lines(),
        f"${ENV_VAR}  {os.environ.get(ENV_VAR, 'unset (auto)')}",
        f"${CONV_ENV_VAR}  {os.environ.get(CONV_ENV_VAR, 'unset (winograd)')}"
        " (the cpp backend's large 3x3 convolutions: winograd or direct)",
        "backends:",
        "  ref            always available",
        f"  cpp            {_backend_line('cpu', try_load=True)}",
    ]
    if load_cuda:
        lines.append(f"  cuda           {_backend_line('cuda', try_load=True)}")
    elif not gpus:
        lines.append("  cuda           no GPU visible (`medgan-aug ops build --cuda` still checks compilation)")
    else:
        lines.append("  cuda           not loaded")
    return "\n".join(lines)
