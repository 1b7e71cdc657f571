"""One registry of generators: everything that lists them reads it, and the package
builds the same generator the workflow builds."""

import sys
import types

import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CONFIG
from exprsynth import load_generator
from exprsynth.config import ConfigError, load_schema, model_settings, validate_config
from exprsynth.models import GENERATORS, NETWORKS, REFERENCES, GeneratorEntry, display_name
from exprsynth.models.base import Generator
from exprsynth.models.build import build_generator


def test_the_schema_lists_every_registered_generator_with_its_section():
    schema = load_schema()
    assert schema["properties"]["models"]["items"]["enum"] == list(GENERATORS)
    for kind in GENERATORS:
        assert schema["properties"][kind]["type"] == "object"
    assert set(NETWORKS) | set(REFERENCES) == set(GENERATORS)


def test_an_unregistered_generator_is_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"models.1 = 'flow' must be one of vae, gan"):
        validate_config({"models": ["vae", "flow"]})


def test_defaults_live_in_the_schema_only():
    """The package's settings are the schema's: the values the issue found the code
    repeating differently (betas, clip_norm, the VAE's latent size) included."""
    gan, vae = model_settings("gan"), model_settings("vae")
    assert gan["betas"] == [0.5, 0.9] and gan["clip_norm"] is None and vae["latent_dim"] == 16
    assert model_settings("gan", {"epochs": 4})["epochs"] == 4
    with pytest.raises(ConfigError, match="gan.epochs = 0 must be >= 1"):
        model_settings("gan", {"epochs": 0})
    with pytest.raises(KeyError, match="epochs"):  # no code default to fall back on
        build_generator("vae", 10, 0, {k: v for k, v in vae.items() if k != "epochs"}).fit(
            np.zeros((8, 10)), None, seed=0
        )


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_the_package_builds_what_the_workflow_built(kind, tiny_run):
    """The checkpoint of the tiny run holds the settings the package's model_settings gives
    for the same config: outside Snakemake the same generator is built."""
    trained = load_generator(
        tiny_run / f"results/models/{kind}/rep0/{GENERATORS[kind].checkpoint_file}"
    )
    assert trained.generator.settings == model_settings(kind, TINY_CONFIG.get(kind, {}))
    assert type(trained.generator) is type(build_generator(kind, 3, 0, model_settings(kind)))


class ConstantGenerator(Generator):
    """A planted generator: every sample is the training mean."""

    def fit(self, x, y, *, seed, zero_value=None, device="cpu", cuda_graphs=False, progress=False):
        self.mean = x.mean(axis=0)
        return pd.DataFrame({"epoch": [0]})

    def sample(self, n, y, rng):
        return np.tile(self.mean, (n, 1))

    def numbers(self):
        return {"mean": self.mean}

    def load(self, fitted, numbers):
        self.mean = numbers["mean"]


def test_a_new_generator_needs_its_module_and_a_registry_entry_only(monkeypatch, tmp_path):
    """A module (here planted in sys.modules, with its schema section beside it) and an
    entry: the config accepts it with its defaults, it builds, fits, samples, and its name
    and colour reach the verdict and the figures."""
    from exprsynth import config
    from exprsynth.reporting import plots

    module = types.ModuleType("exprsynth.models.constant")
    module.ConstantGenerator = ConstantGenerator
    monkeypatch.setitem(sys.modules, "exprsynth.models.constant", module)
    entry = GeneratorEntry(
        "constant",
        "constant reference",
        "tab:brown",
        "constant",
        "ConstantGenerator",
        network=False,
    )
    monkeypatch.setitem(GENERATORS, "constant", entry)
    schemas = tmp_path / "models"
    schemas.mkdir()
    for existing in config.MODELS_DIR.glob("*.schema.yaml"):
        (schemas / existing.name).write_text(existing.read_text())
    (schemas / "constant.schema.yaml").write_text(
        "type: object\nadditionalProperties: false\ndefault: {}\nproperties:\n  scale: {type: number, default: 1.0}\n"
    )
    monkeypatch.setattr(config, "MODELS_DIR", schemas)

    cfg = validate_config({"models": ["vae", "constant"]})
    assert cfg["constant"] == {"scale": 1.0}
    generator = build_generator("constant", 3, 0, cfg["constant"])
    generator.fit(np.arange(6.0).reshape(2, 3), None, seed=0)
    assert generator.sample(2, None, np.random.default_rng(0)).tolist() == [[1.5, 2.5, 3.5]] * 2
    assert entry.checkpoint_file == "checkpoint.npz"
    assert display_name("constant") == "constant reference"
    assert plots._color("constant") == "tab:brown"
