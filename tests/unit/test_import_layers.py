"""The package's import graph: no loops, and every arrow points down (core < the kinds < runtime < cli).

Every ``import`` of ``ecr_operator`` counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import
still ties two modules together. The kinds (repository, registry, and the next ones) do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "ecr_operator"

LAYERS = {"core": 0, "repository": 1, "registry": 1, "runtime": 2, "cli": 3}
"""A package may import its own modules and those of lower layers; packages of one layer are kinds."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> Iterator[str]:
    """The modules of the package that ``path`` imports (``from p import m`` is module ``p.m`` when m is one)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in MODULES)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                target = name if name in MODULES else node.module
                if target in MODULES:
                    yield target


GRAPH = {module: set(_imports(path)) - {module} for module, path in MODULES.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    packages = {_package(module) for module in MODULES} - {None}
    assert packages == set(LAYERS), "a new package needs its place in LAYERS"


def test_arrows_point_down_and_kinds_do_not_import_each_other() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        source = _package(module)
        for target in sorted(targets):
            into = _package(target)
            if source is None or into is None or source == into:
                continue
            if LAYERS[into] >= LAYERS[source]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_loops() -> None:
    loops = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert loops == []


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from ecr_operator.core import metrics", "ecr_operator.core.metrics"),
        ("from ecr_operator.core.errors import OperatorError", "ecr_operator.core.errors"),
        ("import ecr_operator.runtime.kube", "ecr_operator.runtime.kube"),
    ],
)
def test_the_graph_sees_every_form_of_import(tmp_path: Path, source: str, imported: str) -> None:
    path = tmp_path / "probe.py"
    path.write_text(f"def lazy() -> None:\n    {source}\n")
    assert list(_imports(path)) == [imported]
