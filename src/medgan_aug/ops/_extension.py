"""Lazy, cached compilation of the C++/CUDA operator libraries.

Three libraries are built with :mod:`torch.utils.cpp_extension`:

``cpu``
    Defines the ``medgan_aug::`` operator schemas and registers the C++ CPU
    kernels.
``cuda``
    Registers the CUDA kernels for the same schemas (needs ``cpu`` loaded).
``emulated``
    The CUDA kernels' own source compiled as host C++ under
    ``csrc/emulation/cuda_emulation.h``, registered as ``medgan_aug_emulated::``
    operators on the CPU.  It verifies the CUDA code on machines without a GPU.

Nothing is compiled at import.  A build happens on first use, is cached by
PyTorch across processes (``$TORCH_EXTENSIONS_DIR``), and a failure is reported
once per process with the reason and how to fix it; it is not retried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Literal

import torch

from ._toolkit import find_cuda_toolkit

__all__ = ["BuildError", "Library", "build", "is_loaded", "load", "load_error", "sources"]

Library = Literal["cpu", "cuda", "emulated"]

CSRC = Path(__file__).parent / "csrc"
DEFAULT_CUDA_ARCHS = "8.0;9.0"

_NAMES: dict[Library, str] = {
    "cpu": "medgan_aug_ops_cpu",
    "cuda": "medgan_aug_ops_cuda",
    "emulated": "medgan_aug_ops_emulated",
}
_lock = threading.RLock()
_loaded: set[Library] = set()
_failed: dict[Library, str] = {}


class BuildError(RuntimeError):
    """Raised when an operator library cannot be compiled or loaded."""


def sources(library: Library) -> list[Path]:
    """Source files compiled into ``library``."""
    if library == "cpu":
        return [CSRC / "schema.cpp", *sorted((CSRC / "cpu").glob("*.cpp"))]
    if library == "cuda":
        return sorted((CSRC / "cuda").glob("*.cu"))
    return sorted((CSRC / "emulation").glob("*.cpp"))


def cpp_extension_module() -> ModuleType:
    """``torch.utils.cpp_extension``, imported without its CUDA_HOME guess warning.

    On import it logs a warning about its guess of the toolkit root, which is
    often wrong and which :func:`build` replaces with a checked one anyway.
    """
    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        import torch.utils.cpp_extension as cpp_extension
    finally:
        logger.setLevel(level)
    return cpp_extension


@contextlib.contextmanager
def _cuda_build_environment(arch_list: str | None) -> Iterator[None]:
    """Point cpp_extension at a real toolkit and a fixed arch list for one build."""
    cpp_extension = cpp_extension_module()

    toolkit = find_cuda_toolkit()
    if toolkit is None:
        raise BuildError(
            "no CUDA toolkit found (looked at $CUDA_HOME, $CUDA_PATH, the nvcc on PATH and "
            "what it points to, /usr/local/cuda*, /opt/cuda); install the CUDA toolkit or "
            "set CUDA_HOME to its root"
        )
    previous_home = cpp_extension.CUDA_HOME
    previous_archs = os.environ.get("TORCH_CUDA_ARCH_LIST")
    cpp_extension.CUDA_HOME = str(toolkit.root)
    archs = arch_list or previous_archs
    if archs is None and not torch.cuda.is_available():
        archs = DEFAULT_CUDA_ARCHS
    if archs is not None:
        os.environ["TORCH_CUDA_ARCH_LIST"] = archs
    try:
        yield
    finally:
        cpp_extension.CUDA_HOME = previous_home
        if previous_archs is None:
            os.environ.pop("TORCH_CUDA_ARCH_LIST", None)
        else:
            os.environ["TORCH_CUDA_ARCH_LIST"] = previous_archs


def ninja_path() -> str | None:
    """The ``ninja`` executable: on PATH, else the one the ``ninja`` wheel ships.

    A virtual environment's ``bin`` is on PATH only when it is activated, but
    cpp_extension runs ``ninja`` by name.
    """
    found = shutil.which("ninja")
    if found is not None:
        return found
    try:
        import ninja
    except ImportError:
        return None
    return shutil.which("ninja", path=ninja.BIN_DIR)


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    executable = ninja_path()
    previous = os.environ.get("PATH", "")
    if executable is not None and shutil.which("ninja") is None:
        os.environ["PATH"] = os.path.dirname(executable) + os.pathsep + previous
    try:
        yield
    finally:
        os.environ["PATH"] = previous


def _compile(library: Library, verbose: bool, arch_list: str | None) -> None:
    cpp_extension = cpp_extension_module()

    # -fno-trapping-math lets GCC vectorise the branchy activations and clamps
    # (selects instead of branches); it changes no result.
    cflags = ["-O3", "-fopenmp", "-fno-trapping-math"]
    kwargs: dict = {
        "name": _NAMES[library],
        "sources": [str(p) for p in sources(library)],
        "extra_include_paths": [str(CSRC)],
        "extra_cflags": cflags,
        "extra_ldflags": ["-fopenmp"],
        "is_python_module": False,
        "verbose": verbose,
    }
    if library == "emulated":
        # The emulator runs one host thread per CUDA thread of a block.
        kwargs["extra_cflags"] = [*cflags, "-pthread"]
        kwargs["extra_ldflags"] = ["-fopenmp", "-pthread"]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_ninja_on_path())
        if library == "cuda":
            kwargs["extra_cuda_cflags"] = ["-O3", "--expt-relaxed-constexpr"]
            stack.enter_context(_cuda_build_environment(arch_list))
        cpp_extension.load(**kwargs)


def build(library: Library, *, verbose: bool = False, arch_list: str | None = None) -> None:
    """Compile and load ``library`` now, raising on failure.

    Parameters
    ----------
    library : {"cpu", "cuda", "emulated"}
        Which operator library to build.
    verbose : bool
        Show the compiler commands and output.
    arch_list : str, optional
        CUDA architectures, e.g. ``"8.0;9.0"``; defaults to
        ``$TORCH_CUDA_ARCH_LIST``, else the visible GPUs, else ``"8.0;9.0"``.

    Raises
    ------
    BuildError
        If the sources do not compile or the library does not load.
    """
    with _lock:
        if library in _loaded:
            return
        if library == "cuda":
            build("cpu", verbose=verbose)
        try:
            _compile(library, verbose, arch_list)
        except BuildError:
            raise
        except Exception as exc:  # compiler and loader errors come in many types
            raise BuildError(f"building the {library} operator library failed: {exc}") from exc
        _loaded.add(library)


def load(library: Library) -> bool:
    """Build ``library`` on first use; ``False`` (after one warning) if it cannot be.

    Parameters
    ----------
    library : {"cpu", "cuda", "emulated"}
        Which operator library to load.

    Returns
    -------
    bool
        Whether the library's operators are registered in this process.
    """
    # Lock-free once loaded: this runs on every operator call, also under torch.compile.
    if library in _loaded:
        return True
    with _lock:
        if library in _loaded:
            return True
        if library in _failed:
            return False
        try:
            build(library)
        except BuildError as exc:
            _failed[library] = str(exc)
            warnings.warn(_failure_message(library, exc), RuntimeWarning, stacklevel=3)
            return False
        return True


def is_loaded(library: Library) -> bool:
    """Whether ``library`` is loaded in this process (never triggers a build)."""
    return library in _loaded


def load_error(library: Library) -> str | None:
    """The reason ``library`` failed to build in this process, if it did."""
    return _failed.get(library)


def _failure_message(library: Library, exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()
    tail = "\n".join(detail[-15:])
    hints = "a C++20 compiler (g++ or clang++) and ninja (`pip install ninja`)"
    if library == "cuda":
        hints += ", a CUDA toolkit matching torch.version.cuda (set CUDA_HOME to its root)"
    return (
        f"medgan_aug: the {library} operator library could not be built, so the pure PyTorch "
        f"'ref' implementation is used instead (correct, but slower). Reason:\n{tail}\n"
        f"To fix it, install {hints}, then run `medgan-aug ops doctor` to check the toolchain "
        "and `medgan-aug ops build` to retry. Set MEDGAN_AUG_OPS=ref to silence this warning."
    )
