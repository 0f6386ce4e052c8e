"""Locating the CUDA toolkit that compiles the CUDA backend.

PyTorch guesses the toolkit root as the parent of whichever ``nvcc`` is first
on ``PATH``.  That guess is wrong whenever ``nvcc`` is a wrapper script or a
symlink farm (``/usr/local/bin/nvcc`` → root ``/usr/local``), and the link step
then fails far from the cause.  This module checks each candidate for the
files a build really needs (``bin/nvcc`` or ``bin/nvcc.exe`` and
``include/cuda_runtime.h``), reports how the root was found, and prefers a
toolkit whose major version matches the CUDA that torch was built with:
``torch.utils.cpp_extension`` refuses to build with a different major version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["CudaToolkit", "find_cuda_toolkit"]

_NVCC_NAMES = ("nvcc", "nvcc.exe")


@dataclass(frozen=True)
class CudaToolkit:
    """A CUDA toolkit root usable for building.

    Attributes
    ----------
    root : Path
        Directory holding ``bin/nvcc`` (``bin/nvcc.exe`` on Windows) and
        ``include/cuda_runtime.h``.
    source : str
        How the root was found (environment variable, wrapper target, ...).
    version : str | None
        ``release X.Y`` parsed from ``nvcc --version``, if it ran.
    torch_cuda : str | None
        ``torch.version.cuda`` the toolkit was checked against (``None`` for a
        torch without CUDA).
    passed_over : tuple[str, ...]
        Complete toolkits found earlier in the search order but skipped because
        their major version differs from ``torch_cuda``.
    """

    root: Path
    source: str
    version: str | None
    torch_cuda: str | None = None
    passed_over: tuple[str, ...] = ()

    @property
    def nvcc(self) -> Path:
        """Path of the real ``nvcc`` executable."""
        return _nvcc_in(self.root) or self.root / "bin" / "nvcc"

    @property
    def matches_torch(self) -> bool | None:
        """Whether the major versions of the toolkit and torch's CUDA agree; ``None`` if either is unknown."""
        if self.version is None or self.torch_cuda is None:
            return None
        return _major(self.version) == _major(self.torch_cuda)

    def mismatch(self) -> str | None:
        """A sentence naming both versions when they cannot build together, else ``None``."""
        if self.matches_torch is not False:
            return None
        return (
            f"the CUDA toolkit at {self.root} is release {self.version}, but torch was built with "
            f"CUDA {self.torch_cuda}; torch.utils.cpp_extension refuses a different major version. "
            f"Install a CUDA {_major(self.torch_cuda)}.x toolkit and set CUDA_HOME to its root, or install "
            f"a torch built for CUDA {_major(self.version)}"
        )


def _major(version: str) -> str:
    return version.split(".")[0]


def _version_key(text: str) -> tuple[int, ...]:
    """``"12.10"`` → ``(12, 10)``: numeric order, so 12.10 sorts after 12.9."""
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _nvcc_in(root: Path) -> Path | None:
    for name in _NVCC_NAMES:
        candidate = root / "bin" / name
        if candidate.is_file():
            return candidate
    return None


def _is_toolkit_root(root: Path) -> bool:
    return _nvcc_in(root) is not None and (root / "include" / "cuda_runtime.h").is_file()


def _wrapper_targets(nvcc: Path) -> list[Path]:
    """Toolkit roots that an ``nvcc`` wrapper script execs or a symlink resolves to."""
    roots = [nvcc.resolve().parent.parent]
    try:
        if nvcc.stat().st_size < 64 * 1024:
            text = nvcc.read_text(errors="ignore")
            for match in re.finditer(r"([/\\][^\s\"'$;]+|[A-Za-z]:[\\/][^\"';]+?)[/\\]bin[/\\]nvcc(?:\.exe)?\b", text):
                roots.append(Path(match.group(1)))
    except OSError:
        pass
    return roots


def _nvcc_version(nvcc: Path) -> str | None:
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"release (\d+\.\d+)", out or "")
    return match.group(1) if match else None


def _by_version(paths: Iterable[Path]) -> list[Path]:
    """Newest first by the version in the folder name (``cuda-12.10`` before ``cuda-12.9``)."""
    return sorted(paths, key=lambda path: _version_key(path.name), reverse=True)


def _standard_locations() -> list[Path]:
    """Default install locations, newest version first within each family."""
    if os.name == "nt":
        program_files = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files"))
        base = program_files / "NVIDIA GPU Computing Toolkit" / "CUDA"
        return _by_version(base.glob("v*")) if base.is_dir() else []
    local = Path("/usr/local")
    return [local / "cuda", *_by_version(local.glob("cuda-*")), Path("/opt/cuda")]


def _versioned_path_variables() -> list[tuple[Path, str]]:
    """Windows installers set ``CUDA_PATH_V12_4`` etc. beside ``CUDA_PATH``; newest first."""
    found = []
    for name, value in os.environ.items():
        match = re.fullmatch(r"CUDA_PATH_V(\d+)_(\d+)", name.upper())
        if match and value:
            found.append(((int(match.group(1)), int(match.group(2))), Path(value), f"${name}"))
    return [(path, source) for _, path, source in sorted(found, key=lambda item: item[0], reverse=True)]


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for var in ("CUDA_HOME", "CUDA_PATH"):
        value = os.environ.get(var)
        if value:
            found.append((Path(value), f"${var}"))
    found.extend(_versioned_path_variables())
    nvcc = shutil.which("nvcc")
    if nvcc is not None:
        path = Path(nvcc)
        found.append((path.parent.parent, f"parent of {path}"))
        found.extend((root, f"target of {path}") for root in _wrapper_targets(path))
    found.extend((root, "standard location") for root in _standard_locations())
    return found


def _torch_cuda() -> str | None:
    import torch

    return torch.version.cuda


_UNSET = object()


def find_cuda_toolkit(torch_cuda: str | object | None = _UNSET) -> CudaToolkit | None:
    """Find a complete CUDA toolkit, preferring one that matches torch's CUDA.

    Tries ``$CUDA_HOME``, ``$CUDA_PATH`` (and Windows' ``$CUDA_PATH_Vx_y``), the
    ``nvcc`` on ``PATH`` (following symlinks and the path a wrapper script
    execs), then the standard locations: ``/usr/local/cuda``,
    ``/usr/local/cuda-*`` (newest version first, compared numerically) and
    ``/opt/cuda``, or ``%ProgramFiles%\\NVIDIA GPU Computing Toolkit\\CUDA\\v*``
    on Windows.  A candidate is complete when it holds ``bin/nvcc`` (or
    ``bin/nvcc.exe``) and ``include/cuda_runtime.h``.  The first complete one
    whose major version equals ``torch_cuda``'s is returned; when none matches,
    the first complete one (its :meth:`CudaToolkit.mismatch` says why it will
    not build).

    Parameters
    ----------
    torch_cuda : str or None, optional
        The CUDA version to match; defaults to ``torch.version.cuda``.  ``None``
        (a torch without CUDA) accepts the first complete toolkit.

    Returns
    -------
    CudaToolkit | None
        The toolkit, or ``None`` when no candidate is complete.
    """
    wanted = _torch_cuda() if torch_cuda is _UNSET else torch_cuda
    seen: set[Path] = set()
    fallback: CudaToolkit | None = None
    passed_over: list[str] = []
    for root, source in _candidates():
        key = root.resolve() if root.exists() else root
        if key in seen:
            continue
        seen.add(key)
        nvcc = _nvcc_in(root)
        if nvcc is None or not _is_toolkit_root(root):
            continue
        toolkit = CudaToolkit(root=root, source=source, version=_nvcc_version(nvcc), torch_cuda=wanted)  # type: ignore[arg-type]
        if wanted is None or toolkit.matches_torch:
            return replace(toolkit, passed_over=tuple(passed_over))
        if toolkit.matches_torch is False:
            passed_over.append(f"{root} (via {source}, release {toolkit.version})")
        if fallback is None:
            fallback = toolkit
    return fallback
