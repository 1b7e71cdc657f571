"""Config validation with one-line messages, and the defaults the schema declares.

The schema is the only place a default lives: workflow/schemas/config.schema.yaml for the
workflow, and beside each generator's module its own section (models/<name>.schema.yaml).
The generator names it accepts come from the registry (`exprsynth.models.GENERATORS`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .models import GENERATORS, kind_of

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
MODELS_DIR = Path(__file__).resolve().parent / "models"


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message names key and value."""


def load_schema(path: str | Path = SCHEMA) -> dict:
    """The workflow's schema with the registry's generators: their names and sections."""
    schema = yaml.safe_load(Path(path).read_text())
    schema["properties"]["models"]["items"]["enum"] = list(GENERATORS)
    for kind, entry in GENERATORS.items():
        section = MODELS_DIR / f"{entry.module}.schema.yaml"
        schema["properties"][kind] = yaml.safe_load(section.read_text())
    return schema


def section_settings(section: str, overrides: dict | None = None) -> dict:
    """A config section complete: the schema's defaults, then `overrides`, checked as the
    workflow checks them. What the workflow uses for the same values."""
    return validate_config({section: dict(overrides or {})})[section]


def model_settings(kind: str, overrides: dict | None = None) -> dict:
    """A generator's complete config section (`section_settings`): build_generator with
    it builds what the workflow builds from the same values."""
    if kind not in GENERATORS:
        raise ConfigError(f"unknown generator {kind!r}; known: {', '.join(GENERATORS)}")
    return section_settings(kind, overrides)


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` on top; a nested mapping merges into the one it replaces."""
    out = dict(base)
    for key, value in overrides.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def tuned_runs(config: dict) -> list[str]:
    """The <generator>-tuned runs of a config with tune.trials > 0."""
    if not config["tune"]["trials"]:
        return []
    return [f"{m}-tuned" for m in config["tune"]["models"] if m in config["models"]]


def runs(config: dict) -> list[str]:
    """Every generator run of a validated config: the models, their variants, the tuned runs."""
    return [*config["models"], *config["variants"], *tuned_runs(config)]


def run_settings(config: dict, run: str) -> dict:
    """A run's complete config section: its generator's, with a variant's changes on top
    (a tuned run starts from its generator's; the tuner's choices come from its file)."""
    kind = kind_of(run)
    return merged(config[kind], config["variants"].get(run, {}))


def validate_config(config: dict, schema_path: str | Path = SCHEMA) -> dict:
    """Fill in defaults from the schema, then check; raise ConfigError on the first problem."""
    import jsonschema

    schema = load_schema(schema_path)
    _parse_strings(config, schema)  # first: a section given as a string gets its defaults too
    _fill_defaults(config, schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=_depth)
    if errors:
        raise ConfigError(_describe(errors[0]))
    taken = sorted(set(config["external"]) & {*GENERATORS, "real"})
    if taken:
        raise ConfigError(
            f"config: external.{taken[0]} is the name of a generator of exprsynth's (or of the "
            f"floor); give the external samples another name"
        )
    for name, changes in config["variants"].items():
        if kind_of(name) not in GENERATORS:
            raise ConfigError(
                f"config: variants.{name}: {kind_of(name)!r} is no generator; a variant is named "
                f"<generator>-<tag> with one of {', '.join(GENERATORS)}"
            )
        if name.endswith("-tuned"):
            raise ConfigError(f"config: variants.{name}: names ending in -tuned are the tuner's")
        try:
            section_settings(kind_of(name), merged(config[kind_of(name)], changes))
        except ConfigError as e:
            raise ConfigError(
                f"config: variants.{name}: {str(e).removeprefix('config: ')}"
            ) from None
    untunable = sorted(set(config["tune"]["models"]) - set(GENERATORS))
    if untunable:
        raise ConfigError(f"config: tune.models: {untunable[0]!r} is no generator")
    if config["split"]["scheme"] == "kfold" and len(config["replicates"]) < 2:
        raise ConfigError(
            f"config: split.scheme = kfold needs at least 2 replicates (one per fold), "
            f"not {len(config['replicates'])}"
        )
    vae = config["vae"]
    if vae["reconstruction"] == "mse_mean" and vae.get("zero_inflation") in (True, "true"):
        raise ConfigError(
            "config: vae.zero_inflation = true needs vae.reconstruction = elbo "
            "(mse_mean has no likelihood to add zeros to)"
        )
    label = config["label_column"]
    if config["data"]["source"] == "simulate" and label:
        from .data.simulate import LABEL_COLUMNS

        if label not in LABEL_COLUMNS:
            raise ConfigError(
                f"config: label_column = {label!r} is not a column of the simulated cohort; "
                f"with data.source: simulate use one of {', '.join(LABEL_COLUMNS)}"
            )
    sim = config["simulate"]
    lo, hi = sim["correlation_range"]
    if lo >= hi:
        raise ConfigError(f"config: simulate.correlation_range {[lo, hi]} must be increasing")
    if sim["n_modules"] * sim["module_size"] > sim["n_genes"]:
        raise ConfigError(
            f"config: simulate.n_modules * module_size = {sim['n_modules'] * sim['module_size']} "
            f"exceeds simulate.n_genes = {sim['n_genes']}"
        )
    if sim["disease_modules"] > sim["n_modules"]:
        raise ConfigError(
            f"config: simulate.disease_modules = {sim['disease_modules']} exceeds "
            f"simulate.n_modules = {sim['n_modules']}"
        )
    return config


def _parse_strings(node, schema: dict):
    """Values from the command line (`--config conditional=false`, `gan={"epochs": 4}`,
    `replicates=[1,3]`) can arrive as strings: read them as the schema expects. Returns the
    node, changed in place.

    A valid string stays a string (a file called 123.csv), except null or ~ where the
    schema allows null. Numbers are read as Python reads them, not by YAML 1.1, which takes
    1e-3 for text, 010 for octal 8 and 1:30 for 90; booleans only as true or false; lists
    and mappings by YAML.
    """
    import jsonschema

    def valid(value) -> bool:
        return jsonschema.Draft202012Validator(schema).is_valid(value)

    if isinstance(node, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in node:
                node[key] = _parse_strings(node[key], sub)
        return node
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        node[:] = [_parse_strings(item, schema["items"]) for item in node]
        return node
    if not isinstance(node, str):
        return node
    text = node.strip()
    if text.lower() in ("null", "~") and valid(None):
        return None
    if valid(node):
        return node
    for read in (int, float, {"true": True, "false": False}.__getitem__):
        try:
            value = read(text.lower())
        except (ValueError, KeyError):
            continue
        return value if valid(value) else node
    if text[:1] in ("[", "{"):
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return node
        if isinstance(value, (list, dict)):
            return _parse_strings(value, schema)
    return node


def _fill_defaults(config: dict, schema: dict) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = _copy(sub["default"])
        if sub.get("type") == "object" and isinstance(config.get(key), dict):
            _fill_defaults(config[key], sub)


def _copy(value):
    return (
        {**value} if isinstance(value, dict) else list(value) if isinstance(value, list) else value
    )


def _depth(error) -> int:
    return len(error.absolute_path)


def _describe(error) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = f"under {key}" if error.absolute_path else "at the top level"
        return f"config: unknown key {extra[0]!r} {where}; allowed keys: {', '.join(allowed)}"
    value = error.instance
    bound = error.validator_value
    rules = {
        "minimum": lambda: f"must be >= {bound}",
        "maximum": lambda: f"must be <= {bound}",
        "exclusiveMinimum": lambda: f"must be > {bound}",
        "exclusiveMaximum": lambda: f"must be < {bound}",
        "enum": lambda: f"must be one of {', '.join(map(str, bound))}",
        "type": lambda: f"must be of type {bound}",
    }
    if error.validator in rules:
        rule = rules[error.validator]()
    else:  # jsonschema's own message, which starts with the value itself
        rule = error.message.removeprefix(repr(value)).strip()
    return f"config: {key} = {value!r} {rule}"
