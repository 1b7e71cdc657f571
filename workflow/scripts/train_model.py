"""Rules train_model and fit_reference: fit one generator on one replicate's training split."""

import sys
import time

import yaml
from threadpoolctl import threadpool_limits

from exprsynth.data.preprocess import split_data, zero_values
from exprsynth.io.checkpoint import package_versions, save_checkpoint
from exprsynth.io.checks import errors_in_one_line
from exprsynth.io.files import read_expression, read_scaler, read_table, write_csv
from exprsynth.models import GENERATORS, kind_of
from exprsynth.models.base import (
    ZERO_INFLATION_THRESHOLD,
    TrainingError,
    resolve_device,
    zero_fraction,
)
from exprsynth.models.build import build_generator
from exprsynth.models.trained import TrainedGenerator


def main(
    *,
    model: str,
    expression: str,
    metadata: str,
    split: str,
    scaler: str,
    checkpoint: str,
    history: str,
    hparams: dict,
    label_column: str,
    conditional: bool,
    device: str,
    cuda_graphs: bool,
    seed: int,
    threads: int = 1,
    tuned: str | None = None,
) -> None:
    """model: the run (a generator or a variant of one); tuned: the tuner's choice of
    settings, on top of `hparams`."""
    kind = kind_of(model)
    network = GENERATORS[kind].network
    if tuned:
        # The search space's settings are top-level keys of the section.
        hparams = {**hparams, **yaml.safe_load(open(tuned))["settings"]}
    if network:
        import torch

        torch.set_num_threads(threads)
        device = str(resolve_device(device))  # record where it ran, not 'auto'
    else:
        device = "cpu"  # the references are numpy
    fitted_scaler = read_scaler(scaler)
    data = split_data(
        read_expression(expression),
        read_table(metadata),
        read_table(split, sep="\t"),
        fitted_scaler,
        label_column if conditional else None,
    )
    n_labels = len(data.label_levels)
    zero_value = zero_values(fitted_scaler, len(data.genes))
    zeros = zero_fraction(data.x_train, zero_value)
    generator = build_generator(kind, len(data.genes), n_labels, hparams)
    start = time.perf_counter()
    hist = generator.fit(
        data.x_train,
        data.y_train,
        seed=seed,
        zero_value=zero_value,
        device=device,
        cuda_graphs=cuda_graphs,
        progress=True,
        # The references' fit takes no scaler; a network that models counts needs it.
        **({"scaler": fitted_scaler} if network else {}),
    )
    seconds = time.perf_counter() - start
    print(
        f"{model}: trained in {seconds:.1f} s on {len(data.x_train)} samples ({device})",
        file=sys.stderr,
    )
    # vae's COUNT_LIKELIHOODS, not imported: every training job would then depend on vae.py.
    if hparams.get("likelihood") in ("nb", "zinb"):
        print(
            f"{model}: likelihood {hparams['likelihood']} on the counts ({zeros:.1%} of "
            "training values are zeros; the count likelihood models them, no hurdle)",
            file=sys.stderr,
        )
    elif "zero_inflation" in generator.fitted:
        print(
            f"{model}: zero inflation {'on' if generator.fitted['zero_inflation'] else 'off'} "
            f"(zero_inflation: {hparams['zero_inflation']}; {zeros:.1%} of training "
            f"values are zeros, auto threshold {ZERO_INFLATION_THRESHOLD:.0%})",
            file=sys.stderr,
        )
    counts = [int((data.y_train == k).sum()) for k in range(n_labels)]
    trained = TrainedGenerator(
        kind=kind,
        generator=generator,
        scaler=fitted_scaler,
        genes=data.genes,
        label_column=label_column if n_labels else None,
        label_levels=data.label_levels,
        label_counts=counts,
        history=hist,
        info={
            "seed": seed,
            "device": device,
            "training_seconds": seconds,
            "zero_fraction_train": zeros,
            "versions": package_versions(torch_used=network),
        },
    )
    save_checkpoint(trained, checkpoint)
    write_csv(hist, history)


if "snakemake" in globals():
    log = open(snakemake.log[0], "w", buffering=1)
    sys.stderr = log
    with errors_in_one_line(log, TrainingError):
        with threadpool_limits(snakemake.threads):
            main(
                model=snakemake.wildcards.model,
                expression=snakemake.input.expression,
                metadata=snakemake.input.metadata,
                split=snakemake.input.split,
                scaler=snakemake.input.scaler,
                checkpoint=snakemake.output.model,
                history=snakemake.output.history,
                threads=snakemake.threads,
                tuned=snakemake.input.get("tuned"),
                **snakemake.params,
            )
