# The expression data: the simulated cohort (data.source: simulate) or the user's own file,
# checked and written as the same files, so every later rule is the same either way.
rule prepare_data:
    input:
        unpack(data_inputs),
        code=code("prepare_data.py"),
    output:
        expression="results/data/gene_expression_data.csv",
        matrix="results/data/gene_expression_data.npz",
        metadata="results/data/sample_metadata.csv",
        modules="results/data/gene_modules.csv",
        notes="results/data/notes.txt",
    log:
        "logs/prepare_data.log",
    benchmark:
        "benchmarks/prepare_data.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    params:
        settings=data_settings,
    script:
        "../scripts/prepare_data.py"
