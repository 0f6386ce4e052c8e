"""Toolchain report for the compiled operator backends (``medgan-aug ops doctor``)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from . import _extension
from ._backend import ENV_VAR
from ._toolkit import find_cuda_toolkit

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
    path = _extension.ninja_path()
    if path is None:
        return "NOT FOUND (pip install ninja)"
    return f"{path} {_first_line([path, '--version']) or ''}".strip()


def _torch_cuda_guess() -> str:
    guess = _extension.cpp_extension_module().CUDA_HOME
    if guess is None:
        return "none"
    complete = (Path(guess) / "bin" / "nvcc").is_file() and (Path(guess) / "include" / "cuda_runtime.h").is_file()
    return guess if complete else f"{guess} (incomplete: medgan-aug overrides it when building)"


def _arch_list() -> str:
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return f"{os.environ['TORCH_CUDA_ARCH_LIST']} (from $TORCH_CUDA_ARCH_LIST)"
    if torch.cuda.is_available():
        caps = sorted({torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
        return ";".join(f"{major}.{minor}" for major, minor in caps) + " (visible GPUs)"
    return f"{_extension.DEFAULT_CUDA_ARCHS} (default without a GPU)"


def _backend_line(library: _extension.Library, try_load: bool) -> str:
    if try_load and _extension.load(library):
        return "loads"
    error = _extension.load_error(library)
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
        f"CUDA toolkit    {f'{toolkit.root} via {toolkit.source}' if toolkit else 'NOT FOUND (set CUDA_HOME)'}",
        f"nvcc            {f'{toolkit.nvcc} (release {toolkit.version})' if toolkit else 'not found'}",
        f"torch's guess   {_torch_cuda_guess()}",
        f"CUDA arch list  {_arch_list()}",
        f"build cache     {os.environ.get('TORCH_EXTENSIONS_DIR', '~/.cache/torch_extensions (default)')}",
        f"${ENV_VAR}  {os.environ.get(ENV_VAR, 'unset (auto)')}",
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
