"""Imports run one way: no cycle between the library's parts, no part using another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import medgan_aug

PACKAGE = Path(medgan_aug.__file__).parent

# Known exceptions, each with the reason it stays for now (none at present).
ALLOWED_PRIVATE: set[tuple[str, str]] = set()


def _unit(module: str) -> str:
    """The part of the library a module belongs to: its subpackage, or its own name for a top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool):
    """(target module, imported names) of every import that runs, at module level or in a function."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        stack.extend(ast.iter_child_nodes(node))


def _private(module: str) -> bool:
    """Whether a dotted path names something private below its part (a top-level ``_files`` is a part itself)."""
    return any(part.startswith("_") and not part.startswith("__") for part in module.split(".")[2:])


def _graph():
    """Edges between parts, and the (importing part, private path) pairs that cross parts."""
    edges: dict[str, set[str]] = {}
    private: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        unit = _unit(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, names in _imports(tree, module, path.name == "__init__.py"):
            if not target.startswith("medgan_aug") or module == "medgan_aug":
                continue  # the package root re-exports the public API of every part
            for full in [f"{target}.{name}" for name in names] or [target]:
                other = _unit(full)
                if other in (unit, "(root)") or full == "medgan_aug.__version__":
                    continue
                edges.setdefault(unit, set()).add(other)
                if _private(full):
                    private.add((unit, full))
    return edges, private


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph, as the list of its nodes, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_parts_import_each_other_without_a_cycle():
    edges, _ = _graph()
    assert _cycle(edges) is None, f"import cycle: {' -> '.join(_cycle(edges))}"
    # The layers that must stay at the bottom.
    for low in ("_files", "formats", "plots", "runtime", "ops"):
        assert not ({"data", "nets", "train", "metrics", "selftrain", "cli", "demo"} & edges.get(low, set())), low
    assert "train" not in edges.get("data", set()), "data imports train"
    # data holds real data only; sampling generators sits above it.
    assert not ({"generate", "train", "metrics", "selftrain"} & edges.get("data", set()))
    assert not ({"train", "metrics", "selftrain", "cli"} & edges.get("generate", set()))
    assert "selftrain" not in edges.get("train", set())
    assert "selftrain" not in edges.get("metrics", set()), "metrics imports selftrain"


def test_no_part_imports_another_parts_private_names():
    _, private = _graph()
    assert sorted(private - ALLOWED_PRIVATE) == []


def test_the_checker_sees_cycles_and_private_names(tmp_path, monkeypatch):
    """The test above can fail: a planted cycle and a planted private import are found."""
    edges = {"data": {"train"}, "train": {"metrics"}, "metrics": {"data"}}
    assert _cycle(edges) == ["data", "train", "metrics", "data"]
    assert _cycle({"data": {"nets"}, "nets": {"ops"}}) is None
    fake = tmp_path / "medgan_aug"
    (fake / "data").mkdir(parents=True)
    (fake / "train").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data" / "__init__.py").write_text("from ..train.loop import _step\n")
    (fake / "train" / "__init__.py").write_text("")
    (fake / "train" / "loop.py").write_text("def f():\n    from ..data import thing\n")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    edges, private = _graph()
    assert _cycle(edges) == ["data", "train", "data"]
    assert private == {("data", "medgan_aug.train.loop._step")}


@pytest.mark.parametrize("name", ["MAX_SEED", "class_indices", "find_images", "match_classes", "is_dicom"])
def test_helpers_other_parts_use_are_public(name):
    import medgan_aug.data.dataset_writer
    import medgan_aug.data.image_folder
    import medgan_aug.data.mixing
    import medgan_aug.data.prepare
    import medgan_aug.generate.latents

    modules = [
        medgan_aug.generate.latents,
        medgan_aug.data.image_folder,
        medgan_aug.data.mixing,
        medgan_aug.data.prepare,
        medgan_aug.data.dataset_writer,
    ]
    assert any(name in module.__all__ for module in modules)
