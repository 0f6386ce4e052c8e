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

Nothing is compiled at import.  A library is built on first use and cached
under a key made of everything that changes the binary (see
:func:`fingerprint`): the torch version, installation path, CUDA version and
C++ ABI, the Python version, the compiler (path and ``--version``), the flags,
the CUDA architectures and a hash of every file under ``csrc/``.  Each key has
its own directory ``<cache>/medgan_aug/<library name>-<key>/`` (the cache is
``$TORCH_EXTENSIONS_DIR``, else PyTorch's default ``~/.cache/torch_extensions``),
so two virtual environments on one machine never rebuild each other's library.
A built library is loaded directly with :func:`torch.ops.load_library`, without
a compiler or CUDA toolkit; when the compiler is missing the newest library
built for the same torch, flags and sources is used.

``$MEDGAN_AUG_OPS_LIB`` loads prebuilt libraries instead and never builds: an
:data:`os.pathsep`-separated list of directories holding
``medgan_aug_ops_<library>.so`` files (as written by
``medgan-aug ops build --output DIR``) or of paths to such files (any file named
``medgan_aug_ops_<library>*.so``, e.g. one from the cache).

A failure is reported once per process with the reason and how to fix it; it is
not retried.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch

from ._toolkit import find_cuda_toolkit

__all__ = [
    "DEFAULT_CUDA_ARCHS",
    "LIB_ENV_VAR",
    "BuildError",
    "CacheEntry",
    "Library",
    "build",
    "cache_entry",
    "cache_root",
    "cuda_arch_list",
    "export",
    "fingerprint",
    "is_loaded",
    "load",
    "load_error",
    "loaded_from",
    "sources",
]

Library = Literal["cpu", "cuda", "emulated"]
LIBRARIES: tuple[Library, ...] = ("cpu", "cuda", "emulated")

CSRC = Path(__file__).parent / "csrc"
# Without a visible GPU: SASS for A100 and H100, and PTX of the newest so that any
# newer GPU JIT-compiles it at load instead of needing a rebuild.
DEFAULT_CUDA_ARCHS = "8.0;9.0+PTX"
LIB_ENV_VAR = "MEDGAN_AUG_OPS_LIB"
LIB_EXT = ".pyd" if os.name == "nt" else ".so"
_STAMP = "medgan_aug_build.json"
_STAMP_FORMAT = 1

_NAMES: dict[Library, str] = {
    "cpu": "medgan_aug_ops_cpu",
    "cuda": "medgan_aug_ops_cuda",
    "emulated": "medgan_aug_ops_emulated",
}
_DURATION: dict[Library, str] = {
    "cpu": "about 30-60 s",
    "emulated": "about 1 min",
    "cuda": "several minutes",
}
_lock = threading.RLock()
_loaded: set[Library] = set()
_failed: dict[Library, str] = {}
_loaded_from: dict[Library, str] = {}


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


# --------------------------------------------------------------------------- build specification


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything handed to cpp_extension for one library (also tiny test extensions)."""

    library: str
    base_name: str
    sources: tuple[Path, ...]
    hashed: tuple[Path, ...]
    hash_root: Path
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    include_paths: tuple[Path, ...] = ()
    cuda_cflags: tuple[str, ...] = ()
    cuda: bool = False
    arch_list: str | None = None
    duration: str = "a minute or so"


def cuda_arch_list(arch_list: str | None = None) -> tuple[str, str]:
    """The CUDA architectures a build uses and where they came from.

    ``arch_list`` if given, else ``$TORCH_CUDA_ARCH_LIST``, else the visible
    GPUs' compute capabilities (capped at the newest torch supports, ``+PTX`` on
    the last, as PyTorch does), else :data:`DEFAULT_CUDA_ARCHS`.

    Returns
    -------
    tuple[str, str]
        ``(archs, reason)``, e.g. ``("8.0;9.0+PTX", "default without a GPU")``.
    """
    if arch_list:
        return arch_list, "given"
    env = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if env and env != "native":
        return env, "$TORCH_CUDA_ARCH_LIST"
    if torch.cuda.is_available():
        supported = [tuple(divmod(int(a.split("_")[1]), 10)) for a in torch.cuda.get_arch_list() if a.startswith("sm_")]
        newest = max(supported) if supported else (99, 9)
        caps = sorted({min(torch.cuda.get_device_capability(i), newest) for i in range(torch.cuda.device_count())})
        archs = [f"{major}.{minor}" for major, minor in caps]
        archs[-1] += "+PTX"
        return ";".join(archs), "visible GPUs"
    return DEFAULT_CUDA_ARCHS, "default without a GPU"


_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)


def _with_local_includes(files: Sequence[Path], include_dir: Path) -> list[Path]:
    """``files`` and every file they ``#include "..."`` from ``include_dir`` or their own folder, transitively."""
    found: dict[Path, None] = {}
    pending = [Path(f).resolve() for f in files]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found[path] = None
        for name in _INCLUDE.findall(path.read_text(errors="replace")):
            for folder in (path.parent, include_dir):
                candidate = (folder / name).resolve()
                if candidate.is_file():
                    pending.append(candidate)
                    break
    return sorted(found)


def _spec(library: Library, arch_list: str | None = None) -> _Spec:
    # -fno-trapping-math lets GCC vectorise the branchy activations and clamps
    # (selects instead of branches); it changes no result.
    cflags = ("-O3", "-fopenmp", "-fno-trapping-math")
    ldflags: tuple[str, ...] = ("-fopenmp",)
    if library == "emulated":
        # The emulator runs one host thread per CUDA thread of a block.
        cflags, ldflags = (*cflags, "-pthread"), (*ldflags, "-pthread")
    srcs = sources(library)
    return _Spec(
        library=library,
        base_name=_NAMES[library],
        sources=tuple(srcs),
        hashed=tuple(_with_local_includes(srcs, CSRC)),
        hash_root=CSRC,
        cflags=cflags,
        ldflags=ldflags,
        include_paths=(CSRC,),
        cuda_cflags=("-O3", "--expt-relaxed-constexpr") if library == "cuda" else (),
        cuda=library == "cuda",
        arch_list=cuda_arch_list(arch_list)[0] if library == "cuda" else None,
        duration=_DURATION[library],
    )


# --------------------------------------------------------------------------- cache key


def _run_version(executable: str) -> str | None:
    try:
        result = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (result.stdout or result.stderr or "").strip()
    return text if result.returncode == 0 and text else None


def _compiler_identity(command: str) -> str | None:
    """``"<resolved path>: <--version output, lines joined by |>"`` of a compiler, ``None`` when it is missing."""
    path = shutil.which(command)
    if path is None:
        return None
    version = _run_version(path)
    if version is None:
        return None
    # All of it: nvcc's first line does not name its release.
    return f"{os.path.realpath(path)}: {' | '.join(line.strip() for line in version.splitlines() if line.strip())}"


def _torch_identity() -> dict[str, Any]:
    return {
        "version": torch.__version__,
        "path": os.path.realpath(os.path.dirname(torch.__file__)),
        "cuda": torch.version.cuda,
        "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}{getattr(sys, 'abiflags', '')}",
    }


def _compilers(spec: _Spec) -> dict[str, str | None]:
    """The compilers that build ``spec``, as cpp_extension picks them (``None``: missing)."""
    compilers = {"cxx": _compiler_identity(os.environ.get("CXX", "cl" if os.name == "nt" else "c++"))}
    if spec.cuda:
        nvcc = os.environ.get("PYTORCH_NVCC")
        if nvcc:
            compilers["nvcc"] = _compiler_identity(nvcc)
        else:
            toolkit = find_cuda_toolkit()
            compilers["nvcc"] = _compiler_identity(str(toolkit.nvcc)) if toolkit else None
        # cpp_extension passes $CC to nvcc as its host compiler (-ccbin).
        if os.environ.get("CC"):
            compilers["ccbin"] = _compiler_identity(os.environ["CC"])
    return compilers


def _hash_files(root: Path, files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    root = root.resolve()
    for path in sorted(Path(f).resolve() for f in files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _fingerprint(spec: _Spec) -> dict[str, Any]:
    return {
        "format": _STAMP_FORMAT,
        "library": spec.library,
        "torch": _torch_identity(),
        "flags": {
            "cflags": list(spec.cflags),
            "ldflags": list(spec.ldflags),
            "cuda_cflags": list(spec.cuda_cflags),
        },
        "arch_list": spec.arch_list,
        "sources": _hash_files(spec.hash_root, spec.hashed),
        "compilers": _compilers(spec),
    }


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _base_digest(fp: dict[str, Any]) -> str:
    """The key without the compilers: what a compiler-less machine can still match."""
    return _digest({k: v for k, v in fp.items() if k != "compilers"})


def fingerprint(library: Library, arch_list: str | None = None) -> dict[str, Any]:
    """Everything that goes into ``library``'s cache key (see the module docstring)."""
    return _fingerprint(_spec(library, arch_list))


def cache_root() -> Path:
    """``$TORCH_EXTENSIONS_DIR/medgan_aug``, else PyTorch's default extension cache's ``medgan_aug``."""
    env = os.environ.get("TORCH_EXTENSIONS_DIR")
    root = Path(env) if env else Path(cpp_extension_module().get_default_build_root())
    return root / "medgan_aug"


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """Where a library with a given key lives in the cache.

    Attributes
    ----------
    key : str | None
        The 16-hex-digit key, ``None`` when a compiler is missing (no build possible).
    directory : Path | None
        ``<cache>/medgan_aug/<name>-<key>/``; for a missing compiler the newest
        matching directory built elsewhere, if any.
    library_file : Path | None
        The built library if it is there (with a complete build record).
    fingerprint : dict
        The key's inputs.
    """

    key: str | None
    directory: Path | None
    library_file: Path | None
    fingerprint: dict[str, Any]

    @property
    def built(self) -> bool:
        """Whether a complete library is in the cache."""
        return self.library_file is not None


def _read_stamp(directory: Path) -> dict[str, Any] | None:
    try:
        stamp = json.loads((directory / _STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != _STAMP_FORMAT:
        return None
    if not (directory / str(stamp.get("file", ""))).is_file():
        return None
    return stamp


def _entry(spec: _Spec) -> CacheEntry:
    fp = _fingerprint(spec)
    root = cache_root()
    if all(value is not None for value in fp["compilers"].values()):
        key = _digest(fp)
        directory = root / f"{spec.base_name}-{key}"
        stamp = _read_stamp(directory)
        library_file = directory / stamp["file"] if stamp and stamp.get("key") == key else None
        return CacheEntry(key=key, directory=directory, library_file=library_file, fingerprint=fp)
    # A compiler is missing: take the newest library built for this torch, these flags and sources.
    base = _base_digest(fp)
    matches = []
    for directory in root.glob(f"{spec.base_name}-*") if root.is_dir() else ():
        stamp = _read_stamp(directory)
        if stamp is not None and stamp.get("base") == base:
            matches.append((stamp.get("built", 0), directory, stamp))
    if not matches:
        return CacheEntry(key=None, directory=None, library_file=None, fingerprint=fp)
    _, directory, stamp = max(matches, key=lambda match: match[0])
    return CacheEntry(key=stamp["key"], directory=directory, library_file=directory / stamp["file"], fingerprint=fp)


def cache_entry(library: Library, arch_list: str | None = None) -> CacheEntry:
    """The cache key, directory and build state of ``library`` (compiles nothing)."""
    return _entry(_spec(library, arch_list))


# --------------------------------------------------------------------------- building


def _no_toolkit_error() -> BuildError:
    return BuildError(
        "no CUDA toolkit found (looked at $CUDA_HOME, $CUDA_PATH, the nvcc on PATH and "
        "what it points to, /usr/local/cuda*, /opt/cuda); install the CUDA toolkit or "
        "set CUDA_HOME to its root"
    )


@contextlib.contextmanager
def _cuda_build_environment(arch_list: str | None) -> Iterator[None]:
    """Point cpp_extension at a real toolkit and a fixed arch list for one build."""
    cpp_extension = cpp_extension_module()

    toolkit = find_cuda_toolkit()
    if toolkit is None:
        raise _no_toolkit_error()
    mismatch = toolkit.mismatch()
    if mismatch is not None:
        raise BuildError(mismatch)
    previous_home = cpp_extension.CUDA_HOME
    previous_archs = os.environ.get("TORCH_CUDA_ARCH_LIST")
    cpp_extension.CUDA_HOME = str(toolkit.root)
    os.environ["TORCH_CUDA_ARCH_LIST"] = cuda_arch_list(arch_list)[0]
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


def _write_stamp(directory: Path, name: str, entry: CacheEntry) -> None:
    stamp = {
        "format": _STAMP_FORMAT,
        "key": entry.key,
        "base": _base_digest(entry.fingerprint),
        "file": f"{name}{LIB_EXT}",
        "built": time.time(),
        "fingerprint": entry.fingerprint,
    }
    tmp = directory / f"{_STAMP}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(stamp, indent=1, sort_keys=True))
    os.replace(tmp, directory / _STAMP)


def _load_or_build(spec: _Spec, verbose: bool = False) -> str:
    """Load ``spec``'s library from the cache, building it first if needed; returns its path."""
    entry = _entry(spec)
    can_build = entry.key is not None and all(v is not None for v in entry.fingerprint["compilers"].values())
    if entry.library_file is not None:
        try:
            torch.ops.load_library(str(entry.library_file))
            return str(entry.library_file)
        except OSError as exc:  # the dynamic loader's error: a truncated or damaged file
            if not can_build:
                raise BuildError(
                    f"the cached library {entry.library_file} does not load ({exc}) and there is no compiler "
                    "to build it again"
                ) from exc
            assert entry.directory is not None
            (entry.directory / _STAMP).unlink(missing_ok=True)
    if not can_build:
        if spec.cuda and entry.fingerprint["compilers"].get("nvcc") is None:
            raise _no_toolkit_error()
        raise BuildError(
            f"no C++ compiler found (${'CXX' if os.environ.get('CXX') else 'PATH'}: "
            f"{os.environ.get('CXX', 'c++')}) and no {spec.library} library built for this torch in "
            f"{cache_root()}; install g++ or clang++, or point ${LIB_ENV_VAR} at a prebuilt library"
        )
    assert entry.directory is not None
    entry.directory.mkdir(parents=True, exist_ok=True)
    name = f"{spec.base_name}_{entry.key}"
    print(
        f"medgan-aug: compiling the C++ ops ({spec.library}), {spec.duration}, once per environment; "
        f"cached in {entry.directory}",
        file=sys.stderr,
        flush=True,
    )
    cpp_extension = cpp_extension_module()
    kwargs: dict[str, Any] = {
        "name": name,
        "sources": [str(p) for p in spec.sources],
        "extra_include_paths": [str(p) for p in spec.include_paths],
        "extra_cflags": list(spec.cflags),
        "extra_ldflags": list(spec.ldflags),
        "build_directory": str(entry.directory),
        "is_python_module": False,
        "verbose": verbose,
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(_ninja_on_path())
        if spec.cuda:
            kwargs["extra_cuda_cflags"] = list(spec.cuda_cflags)
            stack.enter_context(_cuda_build_environment(spec.arch_list))
        cpp_extension.load(**kwargs)
    _write_stamp(entry.directory, name, entry)
    return str(entry.directory / f"{name}{LIB_EXT}")


# --------------------------------------------------------------------------- prebuilt libraries


def _prebuilt_file(library: Library, value: str) -> Path:
    name = _NAMES[library]
    entries = [entry for entry in value.split(os.pathsep) if entry.strip()]
    for entry in entries:
        path = Path(entry.strip()).expanduser()
        if not path.exists():
            raise BuildError(
                f"${LIB_ENV_VAR} names {path}, which does not exist (${LIB_ENV_VAR}={value!r}; it holds "
                f"directories with {name}{LIB_EXT} or paths to such files, separated by {os.pathsep!r})"
            )
        if path.is_dir():
            if (path / f"{name}{LIB_EXT}").is_file():
                return path / f"{name}{LIB_EXT}"
        elif path.stem == name or path.stem.startswith(f"{name}_"):
            return path
    raise BuildError(
        f"${LIB_ENV_VAR}={value!r} holds no {library} library (looked for {name}{LIB_EXT} in its directories and "
        f"for files named {name}*{LIB_EXT}); nothing is built while it is set: add the library "
        f"(`medgan-aug ops build --output DIR`) or unset ${LIB_ENV_VAR}"
    )


def _load_prebuilt(library: Library, value: str) -> str:
    path = _prebuilt_file(library, value)
    record = path.with_suffix(".json")
    if record.is_file():
        with contextlib.suppress(OSError, ValueError):
            built_for = json.loads(record.read_text()).get("fingerprint", {}).get("torch", {}).get("version")
            if built_for and built_for != torch.__version__:
                raise BuildError(
                    f"${LIB_ENV_VAR}: {path} was built for torch {built_for}, this is torch {torch.__version__}; "
                    "rebuild it with `medgan-aug ops build --output DIR` in this environment"
                )
    try:
        torch.ops.load_library(str(path))
    except Exception as exc:
        raise BuildError(f"${LIB_ENV_VAR}: loading {path} failed: {exc}") from exc
    return str(path)


def export(library: Library, directory: str | os.PathLike[str], arch_list: str | None = None) -> Path:
    """Copy ``library`` (built) to ``directory/medgan_aug_ops_<library>.so`` with its build record.

    The directory can then be given in ``$MEDGAN_AUG_OPS_LIB`` on machines with
    the same torch installation, which load it without compiling anything.
    """
    build(library, arch_list=arch_list)
    entry = cache_entry(library, arch_list)
    source = Path(_loaded_from.get(library, "")) if _loaded_from.get(library) else entry.library_file
    if source is None or not source.is_file():
        raise BuildError(f"the {library} library is not in the cache ({cache_root()})")
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{_NAMES[library]}{LIB_EXT}"
    shutil.copy2(source, target)
    stamp = _read_stamp(source.parent)
    record = {"source": str(source), "fingerprint": stamp["fingerprint"] if stamp else entry.fingerprint}
    target.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return target


# --------------------------------------------------------------------------- public entry points


def _compile(library: Library, verbose: bool, arch_list: str | None) -> str:
    """Load ``library`` from ``$MEDGAN_AUG_OPS_LIB``, else the cache, else build it; returns its path."""
    value = os.environ.get(LIB_ENV_VAR)
    if value:
        return _load_prebuilt(library, value)
    return _load_or_build(_spec(library, arch_list), verbose)


def build(library: Library, *, verbose: bool = False, arch_list: str | None = None) -> None:
    """Load ``library`` now, compiling it unless it is cached; raises on failure.

    Parameters
    ----------
    library : {"cpu", "cuda", "emulated"}
        Which operator library to build.
    verbose : bool
        Show the compiler commands and output.
    arch_list : str, optional
        CUDA architectures, e.g. ``"8.0;9.0+PTX"``; defaults to
        ``$TORCH_CUDA_ARCH_LIST``, else the visible GPUs, else
        :data:`DEFAULT_CUDA_ARCHS`.

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
            path = _compile(library, verbose, arch_list)
        except BuildError:
            raise
        except Exception as exc:  # compiler and loader errors come in many types
            raise BuildError(f"building the {library} operator library failed: {exc}") from exc
        _loaded_from[library] = path or ""
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


def loaded_from(library: Library) -> str | None:
    """The file ``library`` was loaded from in this process, if it was."""
    return _loaded_from.get(library) or None


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
