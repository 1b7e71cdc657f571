# Figures of the first replicate: they need only its samples and evaluation details, so
# they are drawn while the other replicates are still evaluated.
rule plot_replicate:
    input:
        expression="results/data/gene_expression_data.npz",
        split=f"results/split/rep{REPS[0]}.tsv",
        scaler=f"results/scaler/rep{REPS[0]}/scaler.json",
        samples=expand(
            "results/samples/{model}/rep{rep}.npz", model=MODELS, rep=REPS[0]
        ),
        histories=expand(
            "results/models/{model}/rep{rep}/history.csv", model=MODELS, rep=REPS[0]
        ),
        details=expand(
            "results/metrics/{model}/rep{rep}_details.npz",
            model=["real", *MODELS],
            rep=REPS[0],
        ),
        code=code("plot_figures.py"),
    output:
        training_curves=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
        ),
        pca_comparison=report(
            "results/figures/pca_comparison.png",
            caption="../report/pca_comparison.rst",
            category="Figures",
        ),
        distribution_comparison=report(
            "results/figures/distribution_comparison.png",
            caption="../report/distribution_comparison.rst",
            category="Figures",
        ),
        gene_mean_variance=report(
            "results/figures/gene_mean_variance.png",
            caption="../report/gene_mean_variance.rst",
            category="Figures",
        ),
        correlation_heatmaps=report(
            "results/figures/correlation_heatmaps.png",
            caption="../report/correlation_heatmaps.rst",
            category="Figures",
        ),
        c2st_roc=report(
            "results/figures/c2st_roc.png",
            caption="../report/c2st_roc.rst",
            category="Figures",
        ),
        dcr_histograms=report(
            "results/figures/dcr_histograms.png",
            caption="../report/dcr_histograms.rst",
            category="Privacy",
        ),
        de_scatter=report(
            "results/figures/de_scatter.png",
            caption="../report/de_scatter.rst",
            category="Figures",
        ),
    log:
        "logs/plot_replicate.log",
    benchmark:
        "benchmarks/plot_replicate.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        models=MODELS,
        against=config["evaluation"]["against"],
        max_genes=config["evaluation"]["max_genes"],
    script:
        "../scripts/plot_figures.py"


# Figures of the summary over all replicates: the last step of a run, kept small.
rule plot_summary:
    input:
        summary="results/comparison_results.csv",
        code=code("plot_figures.py"),
    output:
        comparison_summary=report(
            "results/figures/comparison_summary.png",
            caption="../report/comparison_summary.rst",
            category="Verdict",
        ),
        forest_plot=report(
            "results/figures/forest_plot.png",
            caption="../report/forest_plot.rst",
            category="Verdict",
        ),
    log:
        "logs/plot_summary.log",
    benchmark:
        "benchmarks/plot_summary.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        models=MODELS,
        against=config["evaluation"]["against"],
    script:
        "../scripts/plot_figures.py"


# Runs with privacy.epsilon set, and per generator the point "∞" of their figure: a run
# with the same settings but privacy, so that the line shows what the noise costs alone.
PRIVATE_RUNS = [
    m
    for m in GENERATED
    if (run_settings(config, m).get("privacy") or {}).get("epsilon") is not None
]
PRIVACY_BASELINES = {
    kind_of(p): m
    for p in PRIVATE_RUNS
    for m in GENERATED
    if m not in PRIVATE_RUNS
    and kind_of(m) == kind_of(p)
    and {**run_settings(config, m), "privacy": None}
    == {**run_settings(config, p), "privacy": None}
}


rule plot_privacy:
    input:
        summary="results/comparison_results.csv",
        privacy_histories=expand(
            "results/models/{model}/rep{rep}/history.csv", model=PRIVATE_RUNS, rep=REPS
        ),
        code=code("plot_figures.py"),
    output:
        privacy_tradeoff=report(
            "results/figures/privacy_tradeoff.png",
            caption="../report/privacy_tradeoff.rst",
            category="Privacy",
        ),
    log:
        "logs/plot_privacy.log",
    benchmark:
        "benchmarks/plot_privacy.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        models=PRIVATE_RUNS,
        baselines=PRIVACY_BASELINES,
    script:
        "../scripts/plot_figures.py"
