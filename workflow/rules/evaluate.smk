EVALUATION_INPUTS = {
    "expression": "results/data/gene_expression_data.npz",
    "metadata": "results/data/sample_metadata.csv",
    "modules": "results/data/gene_modules.csv",
    "split": "results/split/rep{rep}.tsv",
    "scaler": "results/scaler/rep{rep}/scaler.json",
}


# The floor (the real training split scored as if synthetic) and the reference generators
# of a replicate, in one job: each alone is a second of work after a second of start-up.
rule evaluate_references:
    input:
        **EVALUATION_INPUTS,
        samples=expand("results/samples/{model}/rep{{rep}}.npz", model=REFERENCE_MODELS),
        samples_metadata=expand(
            "results/samples/{model}/rep{{rep}}_metadata.csv", model=REFERENCE_MODELS
        ),
        histories=expand(
            "results/models/{model}/rep{{rep}}/history.csv", model=REFERENCE_MODELS
        ),
        code=code("evaluate_model.py"),
    output:
        metrics=expand(
            "results/metrics/{model}/rep{{rep}}.csv", model=["real", *REFERENCE_MODELS]
        ),
        details=expand(
            "results/metrics/{model}/rep{{rep}}_details.npz",
            model=["real", *REFERENCE_MODELS],
        ),
    log:
        "logs/evaluate_references/rep{rep}.log",
    benchmark:
        "benchmarks/evaluate_references/rep{rep}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        label_column=config["label_column"],
        max_genes=config["evaluation"]["max_genes"],
        against=config["evaluation"]["against"],
        seed=replicate_seed,
    script:
        "../scripts/evaluate_model.py"


rule evaluate_model:
    input:
        **EVALUATION_INPUTS,
        samples="results/samples/{model}/rep{rep}.npz",
        samples_metadata="results/samples/{model}/rep{rep}_metadata.csv",
        history="results/models/{model}/rep{rep}/history.csv",
        code=code("evaluate_model.py"),
    output:
        metrics="results/metrics/{model}/rep{rep}.csv",
        details="results/metrics/{model}/rep{rep}_details.npz",
    log:
        "logs/evaluate_model/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/evaluate_model/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join([*NETWORK_RUNS, *EXTERNAL]) or "$^",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        label_column=config["label_column"],
        max_genes=config["evaluation"]["max_genes"],
        against=config["evaluation"]["against"],
        seed=replicate_seed,
    script:
        "../scripts/evaluate_model.py"


# split.scheme kfold: the held-out folds pooled (every sample once) against their
# generators' samples, one two-sample test per generator (docs/design.md).
POOLED = (
    {"pooled": "results/pooled_oof.csv", "pooled_pairs": "results/pooled_oof_pairs.csv"}
    if FOLDS
    else {}
)


rule pool_out_of_fold:
    input:
        expression="results/data/gene_expression_data.npz",
        splits=expand("results/split/rep{rep}.tsv", rep=REPS),
        samples=expand("results/samples/{model}/rep{rep}.npz", model=MODELS, rep=REPS),
        code=code("pool_out_of_fold.py"),
    output:
        summary=report(
            "results/pooled_oof.csv",
            caption="../report/pooled_oof.rst",
            category="Verdict",
        ),
        pairs="results/pooled_oof_pairs.csv",
    log:
        "logs/pool_out_of_fold.log",
    benchmark:
        "benchmarks/pool_out_of_fold.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        models=MODELS,
        transform=config["scaler"]["transform"],
        max_genes=config["evaluation"]["max_genes"],
        seed=config["seed"],
    script:
        "../scripts/pool_out_of_fold.py"


rule compare_models:
    input:
        **POOLED,
        metrics=expand("results/metrics/{model}/rep{rep}.csv", model=MODELS, rep=REPS),
        floors=expand("results/metrics/real/rep{rep}.csv", rep=REPS),
        data_notes="results/data/notes.txt",
        tuning=expand(
            "results/tuning/{model}/rep{rep}/chosen.yaml", model=TUNED, rep=REPS
        ),
        # The epsilon spent by the private runs, for the verdict.
        histories=expand(
            "results/models/{model}/rep{rep}/history.csv", model=GENERATED, rep=REPS
        ),
        code=code("compare_models.py"),
    output:
        summary=report(
            "results/comparison_results.csv",
            caption="../report/comparison_results.rst",
            category="Verdict",
        ),
        per_replicate=report(
            "results/comparison_results_per_replicate.csv",
            caption="../report/comparison_results_per_replicate.rst",
            category="Verdict",
        ),
        pairs=report(
            "results/comparison_pairs.csv",
            caption="../report/comparison_pairs.rst",
            category="Verdict",
        ),
        verdict="results/verdict.rst",
    log:
        "logs/compare_models.log",
    benchmark:
        "benchmarks/compare_models.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        test_fraction=config["split"]["test_fraction"],
        folds=FOLDS,
        against=config["evaluation"]["against"],
        scheme=config["split"]["scheme"],
        auto_below=AUTO_KFOLD_BELOW,
    script:
        "../scripts/compare_models.py"
