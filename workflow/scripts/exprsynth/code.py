"""The package modules a file reaches through its imports, read statically (ast).

The workflow lists them as each rule's `code` inputs, so editing a module reruns exactly
the rules whose scripts reach it; the boundary test reads the same import graph.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache  # the workflow asks for every rule and job: each file is parsed once
def imported_modules(path: Path, kind: str | None = None, root: Path = PACKAGE) -> frozenset[str]:
    """Dotted names of the exprsynth modules `path` imports (at any depth of its code).

    kind: the one generator a rule's job builds (its wildcard); None: all of them.
    root: the package directory (a copy of it, in tests)."""
    path = Path(path).resolve()
    # The package a relative import starts from: exprsynth.models for models/vae.py and
    # for models/__init__.py alike.
    package = path.relative_to(root.parent).parts[:-1] if path.is_relative_to(root) else ()
    found = set()
    for node in _nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "exprsynth")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if module.split(".")[0] != "exprsynth":
                continue
            found.add(module)
            # `from .models import vae` imports the submodule vae when there is one.
            found.update(
                f"{module}.{a.name}" for a in node.names if _file(f"{module}.{a.name}", root)
            )
    if path == root / "models" / "build.py":
        # It imports each generator's module by name, from the registry.
        from .models import GENERATORS

        found.update(
            f"exprsynth.models.{e.module}" for k, e in GENERATORS.items() if kind in (None, k)
        )
    return frozenset(m for m in found if _file(m, root))


def _nodes(tree: ast.AST):
    """Every node, except inside a module's `__getattr__`: the package's lazy attributes
    (exprsynth.load_generator) cost nothing to a script that does not use them."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            continue
        yield node
        todo.extend(ast.iter_child_nodes(node))


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the modules outside the package and the standard library that
    `path` imports, lazy ones included."""
    import sys

    names = set()
    for node in _nodes(ast.parse(Path(path).read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module.split(".")[0])
    return {
        n
        for n in names
        if n not in sys.stdlib_module_names and n not in ("__future__", "exprsynth")
    }


def _file(module: str, root: Path = PACKAGE) -> Path | None:
    parts = module.split(".")[1:]
    for candidate in (
        root.joinpath(*parts).with_suffix(".py"),
        root.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def module_closure(
    path: str | Path, kind: str | None = None, skip: tuple[str, ...] = ()
) -> list[Path]:
    """Every package file `path` reaches, with the __init__ of each package on the way
    (Python runs them on import), sorted. kind: as in `imported_modules`. skip: modules a
    job never loads although the script names them (the branch for another data source)."""
    seen: set[Path] = set()
    todo = [Path(path).resolve()]
    while todo:
        for module in imported_modules(todo.pop(), kind) - set(skip):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                f = _file(".".join(parts[:i]))
                if f and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return sorted(seen)
