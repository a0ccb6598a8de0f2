"""Each room imports only the rooms below it, and no module imports itself round a loop.

Every ``import`` in the package is read from the source (``ast``), the ones inside functions
and under ``TYPE_CHECKING`` included: a lazy import hides a cycle from Python, not from a
reader. The order, bottom up, is the one ``docs/architecture.md`` draws.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "uvscope"

#: the shared modules at the bottom: any room may import them (cycles among them still fail)
BASE = frozenset(
    {
        "uvscope",
        "allocator",
        "classes",
        "clock",
        "config",
        "crashlog",
        "examples",
        "errors",
        "geometry",
        "imaging",
        "localtime",
        "logs",
    }
)
#: the rooms, bottom up: each may import the base and the rooms before it, never one after
ROOMS = (
    "drivers",
    "sim",
    "io",
    "acquisition",
    "models",
    "analysis",
    "report",
    "gui",
    "cli",
    "__main__",
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imported_names(module: str, path: Path) -> Iterator[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imported_names(package, path.read_text(encoding="utf-8"))


def imported_names(package: str, source: str) -> Iterator[str]:
    """Every name an import in ``source`` (a module of ``package``) names, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def _owner(name: str) -> str | None:
    """The package module a dotted name lives in (``a.b.Class`` -> ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = {_owner(n) for n in _imported_names(module, path) if n.startswith("uvscope")}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {name: k for k, name in enumerate(ROOMS)}
    bad = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            ra, rb = room(a), room(b)
            if ra == rb or rb in BASE:
                continue
            if ra in BASE or rank[rb] > rank[ra]:
                bad.append(f"{a} ({ra}) imports {b} ({rb}), a room above it")
    return bad


def test_every_module_belongs_to_a_named_room() -> None:
    assert {room(m) for m in MODULES} == BASE | set(ROOMS)


SOURCE = """
from typing import TYPE_CHECKING
import uvscope.errors
if TYPE_CHECKING:
    from uvscope.gui.app import MainWindow
def later():
    from uvscope.report import page
    from .sibling import thing
"""


def test_lazy_relative_and_type_only_imports_are_seen() -> None:
    names = set(imported_names("uvscope.analysis", SOURCE))
    assert {"uvscope.errors", "uvscope.gui.app", "uvscope.report.page"} <= names
    assert "uvscope.analysis.sibling.thing" in names
    # inside a function in the package itself (reanalyse loads the session when it runs)
    assert "uvscope.analysis.session" in import_graph()["uvscope.analysis.reanalyse"]
    assert upward_imports({"uvscope.analysis.x": {"uvscope.report.page"}})
    # the cycle finder finds a loop of three and leaves the module that only enters it
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "modules importing each other round a loop: " + "; ".join(
        " <-> ".join(group) for group in found
    )


def test_rooms_import_only_downward() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("room_name", ["io", "analysis", "acquisition", "sim", "drivers"])
def test_rooms_below_the_gui_never_import_qt(room_name: str) -> None:
    qt = [
        f"{m} imports {n}"
        for m, path in MODULES.items()
        if room(m) == room_name
        for n in _imported_names(m, path)
        if n.split(".")[0] in {"PySide6", "pyqtgraph", "qtpy"}
    ]
    assert not qt, "\n".join(qt)


def test_the_engine_leaves_the_stage_mosaics_to_the_output_side() -> None:
    """The stage mosaics are a sink ``prepare_scan`` wires; the engine never makes them."""
    graph = import_graph()
    assert "uvscope.io.stage_sink" not in graph["uvscope.acquisition.engine"]
    wiring = {m for m, targets in graph.items() if "uvscope.io.stage_sink" in targets}
    assert wiring == {"uvscope.acquisition.prepare"}
