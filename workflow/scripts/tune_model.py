"""Rule tune_model: search one generator's settings on one replicate's training split.

Only the training rows are read past the split: the held-out test split never reaches
the search. Writes the chosen settings (which train_model reads for the <generator>-tuned
run) and every trial.
"""

import hashlib
import sys
from pathlib import Path

import yaml
from threadpoolctl import threadpool_limits

from exprsynth.data.preprocess import split_data, zero_values
from exprsynth.io.checks import errors_in_one_line
from exprsynth.io.files import atomic_path, read_expression, read_scaler, read_table, write_csv
from exprsynth.models import GENERATORS
from exprsynth.models.base import TrainingError, resolve_device
from exprsynth.tuning.search import tune


def main(
    *,
    model: str,
    expression: str,
    metadata: str,
    split: str,
    scaler: str,
    chosen: str,
    trials: str,
    journal: str,
    settings: dict,
    tune_settings: dict,
    label_column: str,
    conditional: bool,
    device: str,
    seed: int,
    threads: int = 1,
    code_digest: str = "",
) -> None:
    if GENERATORS[model].network:
        import torch

        torch.set_num_threads(threads)
        device = str(resolve_device(device))  # record where it ran, not 'auto'
    else:
        device = "cpu"  # the references are numpy
    fitted_scaler = read_scaler(scaler)
    split_table = read_table(split, sep="\t")
    train_only = split_table[split_table["split"] == "train"]
    expr = read_expression(expression)
    data = split_data(
        expr.loc[train_only["sample_id"]],
        read_table(metadata),
        train_only,
        fitted_scaler,
        label_column if conditional else None,
    )
    search = tune(
        model,
        data.x_train,
        data.y_train,
        len(data.label_levels),
        settings,
        trials=tune_settings["trials"],
        cpu_seconds=tune_settings["cpu_seconds"],
        validation_fraction=tune_settings["validation_fraction"],
        seed=seed,
        zero_value=zero_values(fitted_scaler, len(data.genes)),
        journal=journal,
        scaler=fitted_scaler,
        code_digest=code_digest,
        device=device,
    )
    summary = {
        "settings": search.chosen,
        "validation_auroc": {"default": search.default_value, "chosen": search.chosen_value},
        "budget": {
            "trials": tune_settings["trials"],
            "trials_run": len(search.trials),
            "cpu_seconds": tune_settings["cpu_seconds"],
            "cpu_seconds_spent": round(search.cpu_seconds, 1),
            "exhausted": search.exhausted,
        },
    }
    print(search.trials.to_string(index=False), file=sys.stderr)
    print(yaml.safe_dump(summary, sort_keys=False), file=sys.stderr)
    write_csv(search.trials, trials)
    with atomic_path(chosen) as tmp:
        tmp.write_text(yaml.safe_dump(summary, sort_keys=False))


def files_digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


if "snakemake" in globals():
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log
    with errors_in_one_line(log, TrainingError):
        with threadpool_limits(snakemake.threads):
            main(
                model=snakemake.wildcards.model,
                **{k: snakemake.input[k] for k in ("expression", "metadata", "split", "scaler")},
                chosen=snakemake.output.chosen,
                trials=snakemake.output.trials,
                threads=snakemake.threads,
                # A stored search is resumed only by the code that ran its trials.
                code_digest=files_digest(snakemake.input.code),
                **snakemake.params,
            )
