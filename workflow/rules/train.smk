TRAINING_INPUTS = {
    "expression": "results/data/gene_expression_data.npz",
    "metadata": "results/data/sample_metadata.csv",
    "split": "results/split/rep{rep}.tsv",
    "scaler": "results/scaler/rep{rep}/scaler.json",
}


# The networks: the longest jobs of a replicate, so they start first.
rule train_model:
    input:
        unpack(tuned_choice),
        **TRAINING_INPUTS,
        code=generator_code("train_model.py"),
    output:
        model="results/models/{model}/rep{rep}/checkpoint.pt",
        history="results/models/{model}/rep{rep}/history.csv",
    log:
        "logs/train_model/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/train_model/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join(NETWORK_RUNS) or "$^",
    priority: 10
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=training_gpus,
        mem_mb=2000,
        runtime=60,
    params:
        hparams=model_params,
        label_column=config["label_column"],
        conditional=config["conditional"],
        device=network_setting("device", "cpu"),
        cuda_graphs=cuda_graphs_setting,
        seed=replicate_seed,
    script:
        "../scripts/train_model.py"


# The reference generators: numpy only, a fraction of a second at the default size.
use rule train_model as fit_reference with:
    output:
        model="results/models/{model}/rep{rep}/checkpoint.npz",
        history="results/models/{model}/rep{rep}/history.csv",
    log:
        "logs/fit_reference/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/fit_reference/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join(REFERENCE_MODELS) or "$^",
    priority: 0
    conda:
        "../../envs/data.yaml"
    resources:
        gpu=0,
        mem_mb=2000,
        runtime=60,
