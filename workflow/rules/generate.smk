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
    conda:
        "../../envs/torch.yaml"
    threads: 1
    params:
        n_samples=config["generate"]["n_samples"],
        seed=replicate_seed,
    script:
        "../scripts/generate_samples.py"
