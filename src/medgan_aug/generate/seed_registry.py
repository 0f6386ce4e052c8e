"""The per-parent record of the seeds each synthetic folder used, so that sibling sets never share an image.

Two sets generated side by side (a synthetic train set and a synthetic test set, say) must not share a seed:
the same seed with the same generator gives the same image, which would leak test images into training. So
every folder written by :func:`~medgan_aug.generate.synthesize` is recorded in a registry file
``.medgan-aug-seeds.json`` in the folder's parent: folder name -> checkpoint hash -> sorted half-open seed
ranges ``[[start, stop], ...]``. Default seeds continue after the highest seed any sibling folder used with the
same checkpoint, and explicit seeds that overlap a sibling's are refused unless ``allow_seed_reuse=True``. The
registry only covers folders with the same parent, and runs writing into the same parent at the same time are
not coordinated.
"""

from __future__ import annotations

import json
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._files import atomic_write_text
from ..formats import SEED_REGISTRY_FORMAT
from .latents import MAX_SEED

__all__ = ["SEED_REGISTRY"]

SEED_REGISTRY = ".medgan-aug-seeds.json"
"""Name of the seed registry file kept in the parent of the folders :func:`~medgan_aug.generate.synthesize`
writes."""


def _ranges(seeds: Iterable[int]) -> list[list[int]]:
    """Sorted half-open ``[start, stop]`` ranges covering ``seeds``."""
    ranges: list[list[int]] = []
    for seed in sorted(set(seeds)):
        if ranges and ranges[-1][1] == seed:
            ranges[-1][1] = seed + 1
        else:
            ranges.append([seed, seed + 1])
    return ranges


def _merge(*range_lists: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, stop in sorted(r for ranges in range_lists for r in ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


def _overlap(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    return _merge([[max(s, t), min(e, f)] for s, e in a for t, f in b if max(s, t) < min(e, f)])


def _describe_ranges(ranges: list[list[int]]) -> str:
    parts = [str(s) if e == s + 1 else f"{s}-{e - 1}" for s, e in ranges]
    shown = ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")
    return f"{shown} ({sum(e - s for s, e in ranges)} seeds)"


def _read_registry(path: Path) -> dict[str, dict[str, list[list[int]]]]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        folders = data["folders"]
        if data.get("format") != SEED_REGISTRY_FORMAT or not isinstance(folders, dict):
            raise ValueError("not a seed registry")
        return {
            str(folder): {str(key): [[int(s), int(e)] for s, e in ranges] for key, ranges in used.items()}
            for folder, used in folders.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # Overwriting it would forget which seeds the sibling sets hold, the very thing it guards.
        raise ValueError(f"seed registry {path} is damaged ({error}); repair or delete it") from error


def _write_registry(path: Path, folders: dict[str, dict[str, list[list[int]]]]) -> None:
    # One line per folder keeps the file readable (and diffable) when a folder holds many ranges.
    lines = [f"  {json.dumps(name)}: {json.dumps(used, sort_keys=True)}" for name, used in sorted(folders.items())]
    head = f'{{"format": {json.dumps(SEED_REGISTRY_FORMAT)}, "version": 1, "folders": {{'
    text = head + ("\n" + ",\n".join(lines) + "\n" if lines else "") + "}}\n"
    atomic_write_text(path, text)


def _record(registry: Path, folder: str, key: str, ranges: list[list[int]], keep_old: bool) -> None:
    folders = _read_registry(registry)
    if keep_old:
        entry = folders.get(folder, {})
        entry[key] = _merge(entry.get(key, []), ranges)
    else:
        # The folder now holds only this set: seeds of what it held before are free again.
        entry = {key: ranges}
    folders[folder] = entry
    _write_registry(registry, folders)


def _check_seeds(seeds: Sequence[int] | None, n: int) -> list[int] | None:
    if seeds is None:
        return None
    values = list(seeds)
    if len(values) != n:
        raise ValueError(f"seeds gives {len(values)} seeds for n={n} images")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seeds must be integers in [0, 2**32 - 1], got {seed!r}")
    values = [int(seed) for seed in values]
    if len(set(values)) != n:
        repeated = sorted(seed for seed, count in Counter(values).items() if count > 1)
        raise ValueError(f"seeds must be distinct; repeated: {repeated[:10]}")
    return values


def _choose_seeds(
    seeds: list[int] | None, n: int, out_dir: Path, key: str, allow_reuse: bool
) -> tuple[list[int], Path]:
    registry = out_dir.parent / SEED_REGISTRY
    siblings = {
        name: used[key] for name, used in _read_registry(registry).items() if name != out_dir.name and key in used
    }
    if seeds is None:
        start = max((stop for ranges in siblings.values() for _, stop in ranges), default=0)
        if start + n - 1 > MAX_SEED:
            raise ValueError(f"no {n} free seeds left after {start} for this checkpoint in {registry}")
        return list(range(start, start + n)), registry
    if not allow_reuse:
        wanted = _ranges(seeds)
        for name, ranges in sorted(siblings.items()):
            shared = _overlap(wanted, ranges)
            if shared:
                raise ValueError(
                    f"seeds {_describe_ranges(shared)} were already used with this checkpoint by the folder "
                    f"{str(out_dir.parent / name)!r} (recorded in {registry}); sets sharing seeds share images. "
                    "Choose other seeds, or pass allow_seed_reuse=True if that is intended"
                )
    return seeds, registry
