"""Each rule's conda env and code inputs, checked statically (conda channels are
unreachable here).

For every rule: its env parses, every third-party module that its script and the package
modules it reaches import (at any depth, lazy imports included) is in that env, and its
`code` inputs are computed from the script it runs (exprsynth.code), so that editing any
module it reaches reruns it.
"""

import re
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


# The generators a rule's jobs build (its model wildcard); None: the rule builds none.
def rule_kinds(rule: str):
    from exprsynth.models import NETWORKS, REFERENCES

    return {"train_model": NETWORKS, "fit_reference": REFERENCES}.get(rule, [None])


def parse_rules():
    """{rule name: (env path, script path, the script its code inputs name)} from
    workflow/rules/*.smk; a `use rule A as B with:` block takes what it does not set from A."""
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
            code = re.search(r'code=(?:generator_)?code\(\s*"([^"]+)"', block)
            rules[name.group(2)] = (
                (here / env.group(1)).resolve() if env else base[0],
                (here / script.group(1)).resolve() if script else base[1],
                code.group(1) if code else base[2],
            )
    return rules


def reached_imports(rule: str, script: Path) -> set[str]:
    """Third-party modules a rule's jobs can load: its script's and those of every package
    module the script reaches, for each generator the rule builds."""
    from exprsynth.code import module_closure, third_party_imports

    files = {script}
    for kind in rule_kinds(rule):
        files.update(module_closure(script, kind))
    return set().union(*(third_party_imports(f) for f in files)) - NOT_LOADED.get(rule, set())


# fit_reference runs train_model's script for the numpy references: torch is imported only
# on its branches for networks (tests/test_models.py::test_reference_generators_never_import_torch
# checks that at run time), which a static reading cannot tell apart.
NOT_LOADED = {"fit_reference": {"torch"}}

RULES = [(name, *rule) for name, rule in parse_rules().items() if rule[1] is not None]


def test_every_scripted_rule_names_an_env_and_its_own_script_as_code():
    assert len(RULES) >= 11
    assert "fit_reference" in [name for name, *_ in RULES]
    assert all(env is not None for _, env, _, _ in RULES), [
        n for n, env, _, _ in RULES if env is None
    ]
    wrong = [n for n, _, script, code in RULES if code != script.name]
    assert not wrong, f"code inputs computed from another script than the rule runs: {wrong}"


@pytest.mark.parametrize("rule, env, script, code", RULES, ids=[r[0] for r in RULES])
def test_env_provides_every_module_the_rule_imports(rule, env, script, code):
    spec = yaml.safe_load(env.read_text())
    assert "conda-forge" in spec["channels"]
    deps = spec["dependencies"]
    assert all("=" in d for d in deps if isinstance(d, str)), f"{env.name}: unpinned dependency"
    provided = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
    needed = {CONDA_NAME.get(m, m) for m in reached_imports(rule, script)}
    assert needed, f"{rule}: found no imports to check"
    assert needed <= provided, f"{rule}: {env.name} lacks {sorted(needed - provided)}"


def test_code_inputs_follow_imports_and_the_registry(tmp_path):
    """A planted script: the closure follows relative and absolute imports, lazy ones
    too, adds each package's __init__, and reads the registry's generator modules."""
    from exprsynth.code import module_closure

    script = tmp_path / "rule.py"
    script.write_text(
        "from exprsynth.evaluation import metrics\n"
        "def later():\n    from exprsynth.models.build import build_generator\n"
    )
    names = {str(p.relative_to(PACKAGE)) for p in module_closure(script)}
    assert {
        "__init__.py",
        "evaluation/__init__.py",
        "evaluation/metrics.py",
        "data/preprocess.py",
    } <= names
    assert {"models/vae.py", "models/gan.py", "models/training.py", "models/gaussian.py"} <= names
    only_vae = {str(p.relative_to(PACKAGE)) for p in module_closure(script, "vae")}
    assert "models/vae.py" in only_vae and "models/gan.py" not in only_vae
    assert "reporting/plots.py" not in names and "io/files.py" not in names


def test_every_env_dependency_is_imported_by_a_rule_that_runs_in_it():
    """No env carries a package none of its rules import (conda solves are slow enough)."""
    needed = {}
    for rule, env, script, _ in RULES:
        needed.setdefault(env, set()).update(
            CONDA_NAME.get(m, m) for m in reached_imports(rule, script)
        )
    for env, modules in needed.items():
        deps = yaml.safe_load(env.read_text())["dependencies"]
        provided = {re.split(r"[=<>]", d)[0] for d in deps if isinstance(d, str)}
        assert provided - {"python"} <= modules, (
            f"{env.name}: nothing imports {sorted(provided - modules - {'python'})}"
        )
