"""The generators: one interface (`base.Generator`) and one registry (`GENERATORS`).

Everything that lists generators reads this registry: the config schema's model list, the
training rules' wildcards, the checkpoint kinds, the display names and colours of the
verdict and the figures. Adding a generator means its module, its entry here, and its
config section (with its defaults) in the schema. `build.build_generator` makes one.

May import: `exprsynth.data` (scaler, zero values). Never `io`, `config`, `evaluation`,
`reporting` or snakemake (tests/test_boundaries.py). Importing the registry is free: a
generator's module, and torch with it, loads only when `build_generator` builds it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorEntry:
    kind: str  # the config's model name, the rule wildcard, the checkpoint's kind
    display_name: str
    color: str  # matplotlib colour of its figures
    module: str  # module of this package that holds the class
    class_name: str
    network: (
        bool  # a torch network (rule train_model, GPU-capable); else numpy (rule fit_reference)
    )

    @property
    def checkpoint_file(self) -> str:
        """Networks are saved as torch archives, the numpy references as .npz files."""
        return "checkpoint.pt" if self.network else "checkpoint.npz"


GENERATORS = {
    entry.kind: entry
    for entry in (
        GeneratorEntry("vae", "VAE", "tab:blue", "vae", "VAEGenerator", network=True),
        GeneratorEntry("gan", "GAN", "tab:orange", "gan", "GANGenerator", network=True),
        GeneratorEntry(
            "diffusion", "diffusion", "tab:pink", "diffusion", "DiffusionGenerator", network=True
        ),
        GeneratorEntry(
            "gaussian",
            "Gaussian reference",
            "tab:green",
            "gaussian",
            "GaussianReference",
            network=False,
        ),
        GeneratorEntry(
            "mixture",
            "mixture reference",
            "tab:brown",
            "mixture",
            "MixtureReference",
            network=False,
        ),
        GeneratorEntry(
            "independent",
            "independent reference",
            "tab:purple",
            "independent",
            "IndependentReference",
            network=False,
        ),
    )
}
NETWORKS = tuple(kind for kind, entry in GENERATORS.items() if entry.network)
REFERENCES = tuple(kind for kind, entry in GENERATORS.items() if not entry.network)


def kind_of(run: str) -> str:
    """The generator of a run: a variant <generator>-<tag> (config `variants`, the tuner's
    <generator>-tuned) is a run of <generator> with other settings."""
    return run.split("-", 1)[0]


def is_network(run: str) -> bool:
    return kind_of(run) in NETWORKS


def display_name(run: str) -> str:
    """The registry's name for a generator, its variants' tag in brackets; 'real' and
    unknown names as they are."""
    kind, _, tag = run.partition("-")
    if kind not in GENERATORS:
        return run
    return GENERATORS[kind].display_name + (f" ({tag})" if tag else "")
