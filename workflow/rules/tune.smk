# Hyperparameter search (config tune:), one job per generator and replicate: a study's
# trials run one after another in its job, and the studies run in parallel.
rule tune_model:
    input:
        **TRAINING_INPUTS,
        code=generator_code("tune_model.py"),
    output:
        chosen="results/tuning/{model}/rep{rep}/chosen.yaml",
        trials="results/tuning/{model}/rep{rep}/trials.csv",
    log:
        "logs/tune_model/{model}/rep{rep}.log",
    benchmark:
        "benchmarks/tune_model/{model}/rep{rep}.tsv"
    wildcard_constraints:
        model="|".join(TUNED) or "$^",
    priority: 20
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=training_gpus,
        mem_mb=2000,
        runtime=tuning_minutes,
    params:
        settings=model_params,
        tune_settings=config["tune"],
        # Not an output: Snakemake would delete it with a failed job, and a killed search
        # resumes from it.
        journal="results/tuning/{model}/rep{rep}/journal.log",
        label_column=config["label_column"],
        conditional=config["conditional"],
        device=network_setting("device", "cpu"),
        seed=replicate_seed,
    script:
        "../scripts/tune_model.py"


rule plot_tuning:
    input:
        tuning_trials=expand(
            "results/tuning/{model}/rep{rep}/trials.csv", model=TUNED, rep=REPS
        ),
        code=code("plot_figures.py"),
    output:
        tuning_trials=report(
            "results/figures/tuning_trials.png",
            caption="../report/tuning_trials.rst",
            category="Tuning",
        ),
    log:
        "logs/plot_tuning.log",
    benchmark:
        "benchmarks/plot_tuning.tsv"
    conda:
        "../../envs/plot.yaml"
    threads: 1
    params:
        models=TUNED,
    script:
        "../scripts/plot_figures.py"
