rule split_samples:
    input:
        expression="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        code=code("split_samples.py"),
    output:
        split="results/split/rep{rep}.tsv",
    log:
        "logs/split_samples/rep{rep}.log",
    benchmark:
        "benchmarks/split_samples/rep{rep}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        test_fraction=config["split"]["test_fraction"],
        label_column=config["label_column"],
        seed=split_seed,
        kfold=split_fold,
    script:
        "../scripts/split_samples.py"


rule fit_scaler:
    input:
        expression="results/data/gene_expression_data.npz",
        split="results/split/rep{rep}.tsv",
        code=code("fit_scaler.py"),
    output:
        scaler="results/scaler/rep{rep}/scaler.json",
    log:
        "logs/fit_scaler/rep{rep}.log",
    benchmark:
        "benchmarks/fit_scaler/rep{rep}.tsv"
    conda:
        "../../envs/data.yaml"
    params:
        transform=config["scaler"]["transform"],
    script:
        "../scripts/fit_scaler.py"
