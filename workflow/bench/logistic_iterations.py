"""Train-on-synthetic AUROC of one finished replicate against the logistic fit's
iteration cap (metrics.LOGISTIC_MAX_ITER): where the fit converges the AUROC stops
moving; where it does not, the metric depends on the cap.

    python workflow/bench/logistic_iterations.py [--workdir .] [--model gan] [--rep 0]
        [--caps 25,50,100,200,400]

Reads the run's files as rule evaluate_model does; one thread, as in the workflow.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow/scripts"))

# Loaded before threadpool_limits, as in rule evaluate_model: an OpenMP runtime loaded
# inside the block escapes its cap, and the fit's loss would use every core.
import sklearn.linear_model  # noqa: E402, F401
from threadpoolctl import threadpool_limits  # noqa: E402

from exprsynth.evaluation import metrics as M  # noqa: E402
from exprsynth.data.preprocess import encode_labels
from exprsynth.io.files import read_expression, read_scaler, read_table, read_values  # noqa: E402
from exprsynth.data.preprocess import split_data  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=".", help="a finished run's working directory")
    parser.add_argument("--model", default="gan")
    parser.add_argument("--rep", type=int, default=0)
    parser.add_argument("--caps", default="25,50,100,200,400")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    config = workdir / "config.yaml"
    label = (yaml.safe_load(config.read_text()) if config.exists() else {}).get(
        "label_column", "disease_status"
    )
    results, rep, model = workdir / "results", args.rep, args.model
    fitted = read_scaler(results / f"scaler/rep{rep}/scaler.json")
    data = split_data(
        read_expression(results / "data/gene_expression_data.npz"),
        read_table(results / "data/sample_metadata.csv"),
        read_table(results / f"split/rep{rep}.tsv", sep="\t"),
        fitted,
        label,
    )
    synth = fitted.transform(read_values(results / f"samples/{model}/rep{rep}.npz", data.genes))
    y_synth = encode_labels(
        read_table(results / f"samples/{model}/rep{rep}_metadata.csv")[label], data.label_levels
    )
    recorded = (
        read_table(results / f"metrics/{model}/rep{rep}.csv")
        .set_index("metric")
        .loc["tstr_auroc", "value"]
    )
    print(
        f"{model} rep{rep}: {synth.shape[0]} x {synth.shape[1]}; tstr_auroc recorded by the run "
        f"(cap {M.LOGISTIC_MAX_ITER}): {recorded:.4f}"
    )
    print("| max_iter | tstr_auroc | s |\n|---|---|---|")
    with threadpool_limits(1):
        for cap in (int(c) for c in args.caps.split(",")):
            M.LOGISTIC_MAX_ITER = cap
            start = time.perf_counter()
            auroc = M.tstr_auroc(synth, y_synth, data.x_test, data.y_test)
            print(f"| {cap} | {auroc:.4f} | {time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
