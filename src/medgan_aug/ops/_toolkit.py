"""Locating the CUDA toolkit that compiles the CUDA backend.

PyTorch guesses the toolkit root as the parent of whichever ``nvcc`` is first
on ``PATH``.  That guess is wrong whenever ``nvcc`` is a wrapper script or a
symlink farm (``/usr/local/bin/nvcc`` → root ``/usr/local``), and the link step
then fails far from the cause.  This module checks each candidate for the
files a build really needs and reports how the root was found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CudaToolkit", "find_cuda_toolkit"]


@dataclass(frozen=True)
class CudaToolkit:
    """A CUDA toolkit root usable for building.

    Attributes
    ----------
    root : Path
        Directory holding ``bin/nvcc`` and ``include/cuda_runtime.h``.
    source : str
        How the root was found (environment variable, wrapper target, ...).
    version : str | None
        ``release X.Y`` parsed from ``nvcc --version``, if it ran.
    """

    root: Path
    source: str
    version: str | None

    @property
    def nvcc(self) -> Path:
        """Path of the real ``nvcc`` executable."""
        return self.root / "bin" / "nvcc"


def _is_toolkit_root(root: Path) -> bool:
    return (root / "bin" / "nvcc").is_file() and (root / "include" / "cuda_runtime.h").is_file()


def _wrapper_targets(nvcc: Path) -> list[Path]:
    """Toolkit roots that an ``nvcc`` wrapper script execs or a symlink resolves to."""
    roots = [nvcc.resolve().parent.parent]
    try:
        if nvcc.stat().st_size < 64 * 1024:
            text = nvcc.read_text(errors="ignore")
            for match in re.finditer(r"(/[^\s\"'$;]+)/bin/nvcc\b", text):
                roots.append(Path(match.group(1)))
    except OSError:
        pass
    return roots


def _nvcc_version(nvcc: Path) -> str | None:
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", out)
    return match.group(1) if match else None


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = os.environ.get(var)
        if value:
            found.append((Path(value), f"${var}"))
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        path = Path(nvcc)
        found.append((path.parent.parent, f"parent of {path}"))
        found.extend((root, f"target of {path}") for root in _wrapper_targets(path))
    found.append((Path("/usr/local/cuda"), "standard location"))
    found.extend((root, "standard location") for root in sorted(Path("/usr/local").glob("cuda-*"), reverse=True))
    found.append((Path("/opt/cuda"), "standard location"))
    return found


def find_cuda_toolkit() -> CudaToolkit | None:
    """Find a complete CUDA toolkit.

    Tries ``$CUDA_HOME``, ``$CUDA_PATH``, the ``nvcc`` on ``PATH`` (following
    symlinks and the path a wrapper script execs), ``/usr/local/cuda``,
    ``/usr/local/cuda-*`` and ``/opt/cuda``, and returns the first candidate
    holding both ``bin/nvcc`` and ``include/cuda_runtime.h``.

    Returns
    -------
    CudaToolkit | None
        The toolkit, or ``None`` when no candidate is complete.
    """
    seen: set[Path] = set()
    for root, source in _candidates():
        key = root.resolve() if root.exists() else root
        if key in seen:
            continue
        seen.add(key)
        if _is_toolkit_root(root):
            return CudaToolkit(root=root, source=source, version=_nvcc_version(root / "bin" / "nvcc"))
    return None
