"""Each rule's conda env and code inputs, checked statically (conda channels are
unreachable here).

For every rule: its env parses, every third-party module that its script and the package
modules it reaches import (at any depth, lazy imports included) is in that env, and every
package module it reaches is among its `code` inputs, so that editing one reruns the rule.
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


# Package modules (and their imports) that a rule's script could reach but never loads:
# fit_reference runs train_model's script for the numpy reference generators, without the
# networks' modules, which import torch (tests/test_models.py::
# test_reference_generators_never_import_torch); generate_samples only samples, without
# the training loops, which generator.py imports inside fit_model.
NOT_LOADED = {
    "fit_reference": {"torch", "tqdm", "vae.py", "gan.py", "training.py", "layers.py"},
    "generate_samples": {"training.py"},
}


def parse_rules():
    """{rule name: (env path, script path, code modules)} from workflow/rules/*.smk; a
    `use rule A as B with:` block takes what it does not set from rule A."""
    here = ROOT / "workflow" / "rules"
    rules = {}
    for smk in sorted(here.glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule |use rule )", text):
            name = re.match(r"(?:use rule (\w+) as )?(?:rule )?(\w+)(?: with)?:", block)
            if not name:
                continue
            base = rules.get(name.group(1), (None, None, None))
            env = re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            script = re.search(r'script:\s*\n\s*"([^"]+)"', block)
            code = re.search(r"code=(?:package_files\(([^)]*)\)|(\w+))", block)
            if code and code.group(2):  # a name bound to package_files(...) in the same file
                code = re.search(rf"{code.group(2)} = package_files\(([^)]*)\)", text)
            rules[name.group(2)] = (
                (here / env.group(1)).resolve() if env else base[0],
                (here / script.group(1)).resolve() if script else base[1],
                {"__init__.py", *re.findall(r'"(\w+\.py)"', code.group(1))} if code else base[2],
            )
    return rules


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


def reached_imports(script: Path, not_loaded: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """(package module files, top-level third-party modules) reachable from a rule script,
    without following the package modules named in not_loaded."""
    seen, todo, package, external = set(), [script], set(), set()
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
                if module.exists() and module.name not in not_loaded:
                    package.add(module.name)
                    todo.append(module)
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
    return package, external - not_loaded


RULES = [(name, *rule) for name, rule in parse_rules().items() if rule[1] is not None]


def test_every_scripted_rule_names_an_env_and_its_code():
    assert len(RULES) >= 12
    assert "fit_reference" in [name for name, *_ in RULES]
    assert all(env is not None for _, env, _, _ in RULES), [n for n, env, _, _ in RULES if env is None]
    assert all(code for *_, code in RULES), [n for n, *_, code in RULES if not code]


@pytest.mark.parametrize("rule, env, script, code", RULES, ids=[r[0] for r in RULES])
def test_env_provides_every_module_the_rule_imports(rule, env, script, code):
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    deps = spec["dependencies"]
    assert all("=" in d for d in deps if isinstance(d, str)), f"{env.name}: unpinned dependency"
    provided = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
    _, external = reached_imports(script, NOT_LOADED.get(rule, set()))
    needed = {CONDA_NAME.get(m, m) for m in external}
    assert needed, f"{rule}: found no imports to check"
    assert needed <= provided, f"{rule}: {env.name} lacks {sorted(needed - provided)}"


@pytest.mark.parametrize("rule, env, script, code", RULES, ids=[r[0] for r in RULES])
def test_code_inputs_cover_every_package_module_the_rule_imports(rule, env, script, code):
    package, _ = reached_imports(script, NOT_LOADED.get(rule, set()))
    assert package, f"{rule}: found no package imports to check"
    assert package <= code, f"{rule}: code inputs lack {sorted(package - code)}"


def test_every_env_dependency_is_imported_by_a_rule_that_runs_in_it():
    """No env carries a package none of its rules import (conda solves are slow enough)."""
    needed = {}
    for rule, env, script, _ in RULES:
        _, external = reached_imports(script, NOT_LOADED.get(rule, set()))
        needed.setdefault(env, set()).update(CONDA_NAME.get(m, m) for m in external)
    for env, modules in needed.items():
        deps = yaml.safe_load(env.read_text())["dependencies"]
        provided = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
        assert provided - {"python"} <= modules, f"{env.name}: nothing imports {sorted(provided - modules - {'python'})}"
