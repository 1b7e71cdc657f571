"""The package's rooms and what each may import: no circles, no forbidden edges.

Read statically from the source (exprsynth.code), lazy imports included, so an import
inside a function counts as much as one at the top. Each rule below is also planted:
a copy of the package with one forbidden import must fail the same check.
"""

import shutil
from pathlib import Path

import pytest

from exprsynth import code

PACKAGE = code.PACKAGE

# Subpackage -> subpackages (or modules) of exprsynth it must never import.
FORBIDDEN = {
    "data": {"models", "io", "config", "evaluation", "reporting", "code"},
    "models": {"io", "config", "evaluation", "reporting", "code"},
    "evaluation": {"models", "io", "config", "reporting", "code"},
    "reporting": {"io", "config", "code", "models.build", "tuning"},
    "tuning": {"io", "config", "reporting", "code"},
}
THIRD_PARTY_FORBIDDEN = {"snakemake"}  # the package runs without the workflow


def import_graph(package: Path) -> dict[str, set[str]]:
    """{module: package modules it imports}, dotted names relative to exprsynth."""
    graph = {}
    for path in package.rglob("*.py"):
        name = ".".join(path.relative_to(package).with_suffix("").parts).removesuffix(".__init__")
        imported = code.imported_modules(path, root=package)
        graph[name or "__init__"] = {m.removeprefix("exprsynth.") for m in imported}
    return graph


def violations(package: Path) -> list[str]:
    graph = import_graph(package)
    found = []
    for module, imports in graph.items():
        room = module.split(".")[0]
        for target in imports:
            if any(
                target == bad or target.startswith(bad + ".") for bad in FORBIDDEN.get(room, ())
            ):
                found.append(f"{module} imports {target}")
    for path in package.rglob("*.py"):
        third = code.third_party_imports(path)
        for bad in third & THIRD_PARTY_FORBIDDEN:
            found.append(f"{path.relative_to(package)} imports {bad}")
    return sorted(found)


def cycles(package: Path) -> list[list[str]]:
    """Import circles among the package's modules (an edge to a package counts as an
    edge to its __init__)."""
    graph = import_graph(package)
    state, stack, found = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_room_imports_what_it_must_not():
    assert violations(PACKAGE) == []


def test_no_import_circles():
    assert cycles(PACKAGE) == []


@pytest.fixture
def planted(tmp_path):
    copy = tmp_path / "exprsynth"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.mark.parametrize(
    "module, line, expected",
    [
        ("models/gan.py", "from ..io.files import atomic_path", "models.gan imports io.files"),
        (
            "evaluation/metrics.py",
            "from ..models import GENERATORS",
            "evaluation.metrics imports models",
        ),
        ("data/preprocess.py", "from ..config import SCHEMA", "data.preprocess imports config"),
        (
            "reporting/plots.py",
            "from ..models.build import build_generator",
            "reporting.plots imports models.build",
        ),
        ("models/vae.py", "import snakemake", "models/vae.py imports snakemake"),
    ],
)
def test_a_planted_forbidden_import_is_caught(planted, module, line, expected):
    path = planted / module
    path.write_text(path.read_text() + f"\n\ndef _planted():\n    {line}\n")
    assert expected in violations(planted)


def test_a_planted_circle_is_caught(planted):
    path = planted / "data" / "__init__.py"
    path.write_text(path.read_text() + "\nfrom .preprocess import Scaler\n")
    path = planted / "data" / "preprocess.py"
    path.write_text(path.read_text() + "\n\ndef _planted():\n    from . import simulate\n")
    path = planted / "data" / "simulate.py"
    path.write_text(path.read_text() + "\n\ndef _planted():\n    from .preprocess import Scaler\n")
    assert any({"data.preprocess", "data.simulate"} <= set(c) for c in cycles(planted))
