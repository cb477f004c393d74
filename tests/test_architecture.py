"""The imports show the architecture (DESIGN.md, package map): dependencies point one way
between packages, and the long-running light processes import only what they use."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "fxconsole"
# Packages from the top of DESIGN.md's direction to the bottom; a package may import only
# those after it. ``cluster`` (the Ray backend's driver and actors) records what its
# actors return through ops, as the local workers do. Top-level modules (config,
# timeutil, workspace, fsutil, sqlitetx) are the foundation every package may use.
LAYERS: list[set[str]] = [
    {"cli"},
    {"ui"},
    {"tuning"},  # studies over training runs, validated through ops
    {"cluster"},
    {"ops"},
    {"live", "evaluation"},
    {"agents", "brokers"},
    {"trading"},
    {"market"},
]
FOUNDATION = {"config", "timeutil", "workspace", "fsutil", "sqlitetx", "numfmt"}
# The foundation's own order (a module may import those after it).
FOUNDATION_ORDER = ["workspace", "fsutil", "sqlitetx", "config", "timeutil", "numfmt"]


def _unit(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    """The fxconsole packages and top-level modules a file imports (at any depth)."""
    module = ".".join(("fxconsole", *path.relative_to(ROOT).with_suffix("").parts))
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                names = [".".join([*base, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "fxconsole" and len(parts) > 1:
                found.add(parts[1])
    return found


def package_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        unit = _unit(path)
        if unit in ("__init__", "__main__"):
            continue
        edges[unit] |= _imported_units(path) - {unit}
    return edges


def _rank(unit: str) -> tuple[int, int]:
    if unit in FOUNDATION:
        return (len(LAYERS), FOUNDATION_ORDER.index(unit))
    return next((i, 0) for i, layer in enumerate(LAYERS) if unit in layer)


def test_every_package_is_placed() -> None:
    known = set().union(*LAYERS) | FOUNDATION
    assert set(package_edges()) <= known, "a new package: place it in DESIGN's direction"


def test_dependencies_point_one_way() -> None:
    wrong = sorted(f"{a} -> {b}" for a, targets in package_edges().items() for b in targets
                   if _rank(b) <= _rank(a))
    assert wrong == []


def test_no_cycles_between_packages() -> None:
    edges = package_edges()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return []

    cycles = [c for n in sorted(edges) if n not in state and (c := visit(n, []))]
    assert cycles == []


HEAVY = ("pandas", "pyarrow", "duckdb", "gymnasium", "torch", "stable_baselines3",
         "matplotlib", "textual")


@pytest.mark.parametrize(("module", "allowed"), [
    ("workers.live", set()),
    ("workers.collector", set()),
    ("workers.validator", set()),
    ("fxconsole.cli", set()),
    ("fxconsole.ops.supervisor", set()),
    ("fxconsole.ui.app", {"textual"}),
    ("fxconsole.brokers.oanda", set()),
])
def test_light_processes_import_only_what_they_use(module: str, allowed: set[str]) -> None:
    code = (f"import sys, {module}; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert set(out) == allowed
