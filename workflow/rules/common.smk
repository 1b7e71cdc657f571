import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))
from exprsynth.config import ConfigError, validate_config  # noqa: E402
from exprsynth.generator import CHECKPOINT_FILE, NETWORKS  # noqa: E402

try:
    validate_config(
        config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    )
except ConfigError as e:
    # One line naming key and value, instead of a traceback, and before any job runs.
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(1)

# The report's first page is the verdict once compare_models has written it.
VERDICT = Path("results/verdict.rst").resolve()


report: str(VERDICT) if VERDICT.exists() else "../report/workflow.rst"


MODELS = config["models"]
REPS = config["replicates"]
PACKAGE = Path(workflow.basedir) / "workflow" / "scripts" / "exprsynth"


# Cheap steps run on the submitting node under a cluster executor: no queueing round trip.
localrules:
    split_samples,
    fit_scaler,
    compare_models,


wildcard_constraints:
    model="|".join(MODELS),
    rep=r"\d+",


def package_files(*modules):
    """Package modules a rule's script imports: inputs, so editing one reruns the rule."""
    return [str(PACKAGE / m) for m in ("__init__.py", *modules)]


def checkpoint(wildcards):
    """A network's checkpoint is a torch archive, a reference generator's an .npz file."""
    return f"results/models/{wildcards.model}/rep{wildcards.rep}/{CHECKPOINT_FILE[wildcards.model]}"


def replicate_seed(wildcards):
    return config["seed"] + int(wildcards.rep)


def model_params(wildcards):
    """Only the model's own section: editing the VAE's settings leaves the GAN's jobs alone."""
    return config.get(wildcards.model, {})


def training_gpus(wildcards):
    return 0 if config["device"] == "cpu" else 1


def network_setting(key, reference_value):
    """A config value for the networks' jobs; the numpy reference generators (which share
    their rule's script) get a fixed one, so changing it reruns none of their jobs."""
    return lambda wildcards: (
        config[key] if wildcards.model in NETWORKS else reference_value
    )


def all_targets():
    return [
        "results/comparison_results.csv",
        "results/comparison_results_per_replicate.csv",
        *FIGURES,
    ]
