rule simulate_expression:
    input:
        code=package_files("simulate.py", "io.py", "preprocess.py"),
    output:
        expression="results/data/gene_expression_data.csv",
        matrix="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        modules="results/data/gene_modules.csv",
    log:
        "logs/simulate_expression.log",
    benchmark:
        "benchmarks/simulate_expression.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        simulate=config["simulate"],
    script:
        "../scripts/simulate_expression.py"
