rule evaluate_floor:
    input:
        expression="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        modules="results/data/gene_modules.csv",
        split="results/split/rep{rep}.tsv",
        scaler="results/scaler/rep{rep}/scaler.json",
        code=code("evaluate_model.py"),
    output:
        metrics="results/metrics/real/rep{rep}.csv",
        details="results/metrics/real/rep{rep}_details.npz",
    log:
        "logs/evaluate_floor/rep{rep}.log",
    benchmark:
        "benchmarks/evaluate_floor/rep{rep}.tsv"
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
        expression="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        modules="results/data/gene_modules.csv",
        split="results/split/rep{rep}.tsv",
        scaler="results/scaler/rep{rep}/scaler.json",
        samples="results/samples/{model}/rep{rep}.npz",
        samples_metadata="results/samples/{model}/rep{rep}_metadata.csv",
        history="results/models/{model}/rep{rep}/history.csv",
        floor="results/metrics/real/rep{rep}.csv",
        code=code("evaluate_model.py"),
    output:
        metrics="results/metrics/{model}/rep{rep}.csv",
        details="results/metrics/{model}/rep{rep}_details.npz",
    log:
        "logs/evaluate_model/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/evaluate_model/{model}/rep{rep}.tsv"
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


rule compare_models:
    input:
        metrics=expand("results/metrics/{model}/rep{rep}.csv", model=MODELS, rep=REPS),
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
        against=config["evaluation"]["against"],
    script:
        "../scripts/compare_models.py"
