"""Check that a built sdist and wheel hold every package file, the C++/CUDA sources included.

Usage: python .ci/check_dist.py DIST.tar.gz DIST.whl
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src"
# ".typed": the PEP 561 marker py.typed.
SOURCE_SUFFIXES = {".py", ".h", ".cpp", ".cu", ".cuh", ".typed"}
# What a source distribution carries besides the package: enough to run the tests and build the docs.
SDIST_EXTRAS = ("README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml", "tests", "docs", "examples", "benchmarks")


def package_files() -> set[str]:
    """Paths (relative to src/) of the package's sources, as they appear in the wheel."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts
    }


def main(sdist: str, wheel: str) -> int:
    """Print what is missing from either archive; return 1 if anything is."""
    wanted = package_files()
    if not any(name.endswith(".cu") for name in wanted):
        print("no CUDA sources found under src/: run from the repository", file=sys.stderr)
        return 1
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/", 1)[0]
    in_sdist = {name.split("/", 1)[1] for name in names if "/" in name}
    missing_wheel = sorted(wanted - in_wheel)
    missing_sdist = sorted(f"src/{name}" for name in wanted if f"src/{name}" not in in_sdist)
    for extra in SDIST_EXTRAS:
        if not any(name == extra or name.startswith(f"{extra}/") for name in in_sdist):
            missing_sdist.append(extra)
    for label, missing in (("wheel", missing_wheel), (f"sdist ({top})", missing_sdist)):
        if missing:
            print(f"{label} lacks {len(missing)} file(s): {', '.join(missing[:10])}", file=sys.stderr)
    if missing_wheel or missing_sdist:
        return 1
    kernels = sorted(name for name in in_wheel if "/csrc/" in name)
    print(f"wheel and sdist hold all {len(wanted)} package sources, {len(kernels)} of them C++/CUDA")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
