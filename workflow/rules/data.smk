# The user's own expression data (config data.source is a file): checked and written as
# the same files simulate_expression writes, so every later rule is unchanged.
from exprsynth.io import InputError, check_data_config  # noqa: E402

try:
    # A missing file or an inconsistent data section fails here, before any job runs.
    check_data_config(config["data"])
except InputError as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(1)


rule prepare_data:
    input:
        source=config["data"]["source"],
        source_metadata=config["data"]["metadata"] or [],
        code=package_files("io.py", "preprocess.py"),
    output:
        expression="results/data/gene_expression_data.csv",
        matrix="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        modules="results/data/gene_modules.csv",
    log:
        "logs/prepare_data.log",
    benchmark:
        "benchmarks/prepare_data.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        data=config["data"],
        label_column=config["label_column"],
        transform=config["scaler"]["transform"],
        test_fraction=config["split"]["test_fraction"],
    script:
        "../scripts/prepare_data.py"
