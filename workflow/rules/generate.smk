rule generate_samples:
    input:
        model=checkpoint_path,
        expression="results/data/gene_expression_data.npz",
        code=generator_code("generate_samples.py"),
    output:
        **h5ad_outputs(),
        samples="results/samples/{model}/rep{rep}.csv",
        matrix="results/samples/{model}/rep{rep}.npz",
        metadata="results/samples/{model}/rep{rep}_metadata.csv",
    log:
        "logs/generate_samples/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/generate_samples/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join(GENERATED),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        n_samples=config["generate"]["n_samples"],
        seed=replicate_seed,
    script:
        "../scripts/generate_samples.py"


# Samples made outside exprsynth (config external): checked against the data as strictly as
# the data themselves, and written as the generators' samples are, so every later rule
# scores them the same way. They have no training history: an empty one stands in.
rule import_samples:
    input:
        unpack(external_inputs),
        expression="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        code=code("import_samples.py"),
    output:
        samples="results/samples/{model}/rep{rep}.csv",
        matrix="results/samples/{model}/rep{rep}.npz",
        metadata="results/samples/{model}/rep{rep}_metadata.csv",
        history="results/models/{model}/rep{rep}/history.csv",
    log:
        "logs/import_samples/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/import_samples/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join(EXTERNAL) or "$^",
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        label_column=config["label_column"] if config["conditional"] else None,
        transform=config["scaler"]["transform"],
    script:
        "../scripts/import_samples.py"
