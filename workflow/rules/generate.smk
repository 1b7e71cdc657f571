from exprsynth.io import data_format  # noqa: E402

# Samples are also written as .h5ad when the input was .h5ad (docs/own-data.md).
H5AD_SAMPLES = config["data"]["source"] != "simulate" and (
    data_format(config["data"]["source"], config["data"]["format"]) == "h5ad"
)
SAMPLE_OUTPUTS = (
    {"h5ad": "results/samples/{model}/rep{rep}.h5ad"} if H5AD_SAMPLES else {}
)


rule generate_samples:
    input:
        model=checkpoint,
        expression="results/data/gene_expression_data.npz",
        code=package_files(
            "generator.py",
            "vae.py",
            "gan.py",
            "reference.py",
            "layers.py",
            "preprocess.py",
            "io.py",
        ),
    output:
        **SAMPLE_OUTPUTS,
        samples="results/samples/{model}/rep{rep}.csv",
        matrix="results/samples/{model}/rep{rep}.npz",
        metadata="results/samples/{model}/rep{rep}_metadata.csv",
    log:
        "logs/generate_samples/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/generate_samples/{model}/rep{rep}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        n_samples=config["generate"]["n_samples"],
        seed=replicate_seed,
    script:
        "../scripts/generate_samples.py"
