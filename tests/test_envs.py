"""Conda envs, checked statically (conda channels are unreachable here).

For every rule: its env parses, and every third-party module that its script and the
package modules it reaches import (at any depth, lazy imports included) is in that env.
"""

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
PACKAGE = SCRIPTS / "exprsynth"

# Import name -> conda-forge package name, where the two differ.
CONDA_NAME = {
    "sklearn": "scikit-learn",
    "yaml": "pyyaml",
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
}


def rules_with_envs():
    """(rule name, env path, script path) parsed from workflow/rules/*.smk."""
    found = []
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            name = re.match(r"rule (\w+):", block)
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            if name:
                found.append((name.group(1), env and env.group(1), script and script.group(1)))
    here = ROOT / "workflow" / "rules"
    return [(n, (here / e).resolve() if e else None, (here / s).resolve() if s else None) for n, e, s in found]


def _nodes(tree: ast.AST):
    """All nodes, except inside a module's lazy `__getattr__` (it runs only on attribute access)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            continue
        yield node
        yield from _nodes(node)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in _nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the package
                names.add("exprsynth." + (node.module or ""))
                names |= {f"exprsynth.{a.name}" for a in node.names}
            else:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party modules reachable from a rule script through the package."""
    seen, todo, external = set(), [script], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top == "exprsynth":
                parts = name.split(".")[1:]
                module = PACKAGE / (parts[0] + ".py") if parts and parts[0] else PACKAGE / "__init__.py"
                if module.exists():
                    todo.append(module)
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
    return external


RULES = [r for r in rules_with_envs() if r[2] is not None]


def test_every_scripted_rule_names_an_env():
    assert len(RULES) >= 8
    assert all(env is not None for _, env, _ in RULES), [n for n, env, _ in RULES if env is None]


@pytest.mark.parametrize("rule, env, script", RULES, ids=[r[0] for r in RULES])
def test_env_provides_every_module_the_rule_imports(rule, env, script):
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    deps = spec["dependencies"]
    assert all("=" in d for d in deps if isinstance(d, str)), f"{env.name}: unpinned dependency"
    provided = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
    needed = {CONDA_NAME.get(m, m) for m in third_party_imports(script)}
    assert needed, f"{rule}: found no imports to check"
    assert needed <= provided, f"{rule}: {env.name} lacks {sorted(needed - provided)}"
