FIGURES = expand(
    "results/figures/{name}.png",
    name=["training_curves", "pca_comparison", "distribution_comparison", "comparison_summary"],
)


rule plot_figures:
    input:
        expression="results/data/gene_expression_data.csv",
        split=f"results/split/rep{REPS[0]}.tsv",
        scaler=f"results/scaler/rep{REPS[0]}/scaler.pkl",
        samples=expand("results/samples/{model}/rep{rep}.csv", model=MODELS, rep=REPS[0]),
        histories=expand("results/models/{model}/rep{rep}/history.csv", model=MODELS, rep=REPS[0]),
        summary="results/comparison_results.csv",
        code=package_files("plots.py", "preprocess.py", "io.py"),
    output:
        training_curves=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
        ),
        pca=report(
            "results/figures/pca_comparison.png",
            caption="../report/pca_comparison.rst",
            category="Figures",
        ),
        distribution=report(
            "results/figures/distribution_comparison.png",
            caption="../report/distribution_comparison.rst",
            category="Figures",
        ),
        summary=report(
            "results/figures/comparison_summary.png",
            caption="../report/comparison_summary.rst",
            category="Figures",
        ),
    log:
        "logs/plot_figures.log",
    benchmark:
        "benchmarks/plot_figures.tsv"
    params:
        models=MODELS,
        replicate=REPS[0],
    threads: 1
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_figures.py"
