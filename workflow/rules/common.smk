# Everything the rules decide from the config, in one place: validation, the data source,
# input and output choices, the generators from the registry. The Snakefile holds none.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))
from exprsynth.code import module_closure  # noqa: E402
from exprsynth.config import (
    ConfigError,
    run_settings,
    runs,
    tuned_runs,
    validate_config,
)  # noqa: E402
from exprsynth.io.checks import InputError  # noqa: E402
from exprsynth.io.user_data import check_data_config, data_format  # noqa: E402
from exprsynth.models import GENERATORS, is_network, kind_of  # noqa: E402


def checked_config(config):
    """The config with the schema's defaults, checked before any job runs: a wrong key,
    value or data path is one line naming it, not a traceback."""
    try:
        validate_config(config)
        if config["data"]["source"] != "simulate":
            check_data_config(config["data"])
    except (ConfigError, InputError) as e:
        print(f"Error: {e}", file=sys.stderr)
        sys.exit(1)
    return config


checked_config(config)
DATA = config["data"]
# The only place data.source is read: None for the simulated cohort.
USER_DATA = None if DATA["source"] == "simulate" else DATA["source"]
EXTERNAL = config["external"]  # samples made outside exprsynth: name -> file
GENERATED = runs(config)  # the models, their variants and tuned runs
MODELS = [
    *GENERATED,
    *EXTERNAL,
]  # everything scored: the generators, then the external sets
NETWORK_RUNS = [m for m in GENERATED if is_network(m)]
REFERENCE_MODELS = [m for m in GENERATED if not is_network(m)]
TUNED_RUNS = tuned_runs(config)
TUNED = [kind_of(m) for m in TUNED_RUNS]  # the generators searched
REPS = config["replicates"]
# split.scheme auto: cross-fitted replicates (kfold, with the pooled out-of-fold test) for
# cohorts below this many samples, given at least 5 replicates (so that a fold holds out
# at most the random split's 20%); measured in docs/design.md, "Pooled out-of-fold tests".
AUTO_KFOLD_BELOW = 1000


def cohort_size():
    """The data's number of samples, read cheaply at parse time (split.scheme auto); None
    when the file cannot be read so: prepare_data then names the problem."""
    if USER_DATA is None:
        return config["simulate"]["n_samples"]
    fmt = data_format(USER_DATA, DATA["format"])
    try:
        if fmt == "h5ad":
            import anndata

            return anndata.read_h5ad(USER_DATA, backed="r").n_obs
        import pandas as pd

        sep = "," if fmt == "csv" else "\t"
        if DATA["orientation"] == "genes_x_samples":
            return len(pd.read_csv(USER_DATA, sep=sep, nrows=0).columns) - 1
        return len(pd.read_csv(USER_DATA, sep=sep, usecols=[0]))
    except Exception:
        return None


def split_scheme():
    scheme = config["split"]["scheme"]
    if scheme != "auto":
        return scheme
    n = cohort_size()
    return (
        "kfold"
        if len(REPS) >= 5 and n is not None and n < AUTO_KFOLD_BELOW
        else "random"
    )


SCHEME = split_scheme()
# split.scheme kfold: the replicates are the folds of one partition (K = len(REPS)).
FOLDS = len(REPS) if SCHEME == "kfold" else None
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
FIGURES = [
    "training_curves",
    "pca_comparison",
    "distribution_comparison",
    "comparison_summary",
    "gene_mean_variance",
    "correlation_heatmaps",
    "c2st_roc",
    "dcr_histograms",
    "de_scatter",
    "forest_plot",
]

# The report's first page is the verdict once compare_models has written it.
VERDICT = Path("results/verdict.rst").resolve()


report: str(VERDICT) if VERDICT.exists() else "../report/workflow.rst"


# Cheap steps run on the submitting node under a cluster executor: no queueing round trip.
localrules:
    split_samples,
    fit_scaler,
    compare_models,


wildcard_constraints:
    model="|".join(MODELS),
    rep=r"\d+",


def modules_not_run():
    """Package modules of branches this run never takes: the data source it does not use,
    and the .h5ad reader and writer unless the input is an .h5ad file. They are no code
    inputs, so editing them reruns nothing here."""
    if USER_DATA is None:
        return ("exprsynth.io.user_data", "exprsynth.io.h5ad")
    if data_format(USER_DATA, DATA["format"]) == "h5ad":
        return ("exprsynth.data.simulate",)
    return ("exprsynth.data.simulate", "exprsynth.io.h5ad")


NOT_LOADED = modules_not_run()


def code(script):
    """A rule's code inputs: every package module its script reaches, so editing one
    reruns exactly the rules that run it."""
    return [str(p) for p in module_closure(SCRIPTS / script, skip=NOT_LOADED)]


def generator_code(script):
    """As `code`, for a job that builds one generator: the other generators' modules
    are not its inputs (editing the GAN leaves the VAE's jobs alone)."""
    return lambda wildcards: [
        str(p)
        for p in module_closure(SCRIPTS / script, kind_of(wildcards.model), NOT_LOADED)
    ]


def data_inputs(wildcards):
    """The user's files; the simulated cohort has none."""
    if USER_DATA is None:
        return {}
    return {"source": USER_DATA, "source_metadata": DATA["metadata"] or []}


def data_settings(wildcards):
    """The config the data step reads: editing the simulator's settings does not rerun
    the preparation of a user's file, nor the other way round. The user's data are
    checked against the label, the transform and the split they will meet."""
    if USER_DATA is None:
        return {"simulate": config["simulate"]}
    return {
        "data": DATA,
        "label_column": config["label_column"],
        "transform": config["scaler"]["transform"],
        "test_fraction": config["split"]["test_fraction"],
        **({"n_folds": FOLDS} if FOLDS else {}),
    }


def h5ad_outputs():
    """Samples are also written as .h5ad when the input was .h5ad (docs/own-data.md)."""
    if "exprsynth.io.h5ad" in NOT_LOADED:
        return {}
    return {"h5ad": "results/samples/{model}/rep{rep}.h5ad"}


def external_file(wildcards):
    """The external set's file for this replicate ({rep} in its path), or its one file."""
    return EXTERNAL[wildcards.model].replace("{rep}", wildcards.rep)


def external_inputs(wildcards):
    """The file, and for a CSV/TSV the <file>_metadata.csv with its labels, if there is one."""
    path = Path(external_file(wildcards))
    labels = path.with_name(f"{path.name.split('.')[0]}_metadata.csv")
    return {"source": str(path), **({"labels": str(labels)} if labels.exists() else {})}


def checkpoint_path(wildcards):
    return f"results/models/{wildcards.model}/rep{wildcards.rep}/{GENERATORS[kind_of(wildcards.model)].checkpoint_file}"


def replicate_seed(wildcards):
    return config["seed"] + int(wildcards.rep)


def split_seed(wildcards):
    """kfold: one partition for every replicate, from the base seed."""
    return config["seed"] if FOLDS else replicate_seed(wildcards)


def split_fold(wildcards):
    """kfold: the fold this replicate holds out (its position in replicates) of K; None for random."""
    if not FOLDS:
        return None
    return {"fold": [str(r) for r in REPS].index(wildcards.rep), "n_folds": FOLDS}


def model_params(wildcards):
    """Only the run's own section: editing the VAE's settings leaves the GAN's jobs alone."""
    return run_settings(config, wildcards.model)


def tuned_choice(wildcards):
    """A tuned run trains with the tuner's choice for its generator and replicate."""
    if wildcards.model not in TUNED_RUNS:
        return {}
    return {
        "tuned": f"results/tuning/{kind_of(wildcards.model)}/rep{wildcards.rep}/chosen.yaml"
    }


def tuning_minutes(wildcards):
    """A cluster's time limit for a search: its CPU budget, with room for the last trial."""
    return int(2 * config["tune"]["cpu_seconds"] / 60) + 10


def training_gpus(wildcards):
    """A GPU is requested (from a cluster, say) only where the config asks for one:
    device: auto uses one when the job finds it, and must not wait for one in a queue.
    """
    return 1 if config["device"] == "cuda" and is_network(wildcards.model) else 0


def network_setting(key, reference_value):
    """A config value for the networks' jobs; the numpy reference generators (which share
    their rule's script) get a fixed one, so changing it reruns none of their jobs."""
    return lambda wildcards: (
        config[key] if is_network(wildcards.model) else reference_value
    )


def cuda_graphs_setting(wildcards):
    """Without a GPU it does nothing: device: cpu fixes it, so editing it reruns nothing."""
    if config["device"] == "cpu" or not is_network(wildcards.model):
        return False
    return config["cuda_graphs"]


def all_targets():
    return [
        "results/comparison_results.csv",
        "results/comparison_results_per_replicate.csv",
        *expand("results/figures/{name}.png", name=FIGURES),
        *(["results/figures/tuning_trials.png"] if TUNED else []),
        *(["results/figures/privacy_tradeoff.png"] if PRIVATE_RUNS else []),
    ]
