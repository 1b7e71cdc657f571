"""Power of the pooled out-of-fold two-sample test against the per-fold tests, on small cohorts.

    python workflow/bench/pooled_power.py planted [--seeds 3] [--sizes 60,100,200]
    python workflow/bench/pooled_power.py run RESULTS_DIR...   (finished split.scheme kfold runs)

planted: no training. A cohort of 5 n samples is simulated (the default settings,
random_state 100 + seed); the first n are the real cohort, split into K = 5 folds, and the
"generator" of fold r draws its training split's size from the other 4 n samples (disjoint
across folds: a row in two folds' sets would be a duplicate the detector learns), with a
defect planted in log1p space: none, every gene's spread shrunk by 10%, or one gene in ten
shifted by 0.3 sd. Per fold, as the workflow scores it: c2st_gbt of the synthetic set and of
the floor (the training split) against the held-out fold, in the fold's own scaler; the
per-fold tests detect the defect when the corrected resampled t-test of the two across the
folds (ratio 1/4) has p < 0.05 with the synthetic mean above. Pooled: `pooled_out_of_fold`,
detected when its one-sided p against 0.5 is below 0.05.

run: for each finished kfold run, the pooled table and pairs (as the pool_out_of_fold rule
writes them, recomputed from the run's written samples), beside the per-fold c2st_gbt: each
generator against the floor, and the pairs named by the workflow's comparison_pairs.csv.
Numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
from exprsynth.config import section_settings  # noqa: E402
from exprsynth.data.preprocess import Scaler, kfold_split  # noqa: E402
from exprsynth.data.simulate import simulate_cohort  # noqa: E402
from exprsynth.evaluation import metrics as M  # noqa: E402
from exprsynth.evaluation.compare import resampled_t_test, split_ratio  # noqa: E402
from exprsynth.evaluation.pooled import pooled_out_of_fold  # noqa: E402
from exprsynth.io.files import read_expression, read_table, read_values  # noqa: E402

K = 5
DEFECTS = {
    "none": None,
    "variance shrunk 10%": ("shrink", 0.9),
    "mean shift 0.3 sd": ("shift", 0.3),
}


def plant(x, defect, centre, sd):
    if defect is None:
        return x
    z = np.log1p(x)
    kind, size = defect
    if kind == "shrink":
        z = centre + size * (z - centre)
    else:
        genes = np.arange(x.shape[1]) % 10 == 0
        z[:, genes] += size * sd[genes]
    return np.expm1(z)


def planted(seeds: int, sizes: list[int]) -> pd.DataFrame:
    rows = []
    for n in sizes:
        for seed in range(seeds):
            settings = {**section_settings("simulate"), "n_samples": 5 * n}
            settings["random_state"] = 100 + seed
            settings = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
            x = simulate_cohort(**settings).expression
            real, spare = x.iloc[:n], x.iloc[n:].to_numpy()
            centre, sd = np.log1p(spare).mean(0), np.log1p(spare).std(0)
            splits = [kfold_split(real.index, None, n_folds=K, fold=f, seed=seed) for f in range(K)]
            held = [s.sample_id[s.split == "test"] for s in splits]
            rng = np.random.default_rng(seed)
            order, ends = rng.permutation(len(spare)), np.cumsum([n - len(h) for h in held])
            draws = [spare[order[e - (n - len(h)) : e]] for e, h in zip(ends, held)]
            for name, defect in DEFECTS.items():
                synth = [plant(d, defect, centre, sd) for d in draws]
                fold, floor = [], []
                for s, sets in zip(splits, synth):
                    train = real.loc[s.sample_id[s.split == "train"]].to_numpy()
                    test = real.loc[s.sample_id[s.split == "test"]].to_numpy()
                    scaler = Scaler.fit(train, log1p=True)
                    z = scaler.transform(test)
                    fold.append(M.c2st_auroc(z, scaler.transform(sets), seed=seed)[0])
                    floor.append(M.c2st_auroc(z, scaler.transform(train), seed=seed)[0])
                fold, floor = np.array(fold), np.array(floor)
                p = resampled_t_test(fold, floor, 1 / (K - 1))
                table, _ = pooled_out_of_fold(
                    real, held, {"g": synth}, transform="log1p", max_genes=2000, seed=seed
                )
                g = table.set_index("model").loc["g"]
                rows.append(
                    {
                        "defect": name,
                        "n": n,
                        "seed": seed,
                        "fold_auroc": fold.mean(),
                        "fold_floor": floor.mean(),
                        "fold_detected": bool(p < 0.05 and fold.mean() > floor.mean()),
                        "pooled_auroc": g.c2st_gbt,
                        "pooled_detected": bool(g.p_vs_chance < 0.05),
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def from_run(run: Path) -> None:
    config = yaml.safe_load((run.parent / "config.yaml").read_text())
    reps, models = config["replicates"], config["models"]
    data = read_expression(run / "data/gene_expression_data.npz")
    held = []
    for r in reps:
        split = read_table(run / f"split/rep{r}.tsv", sep="\t")
        held.append(split.loc[split.split == "test", "sample_id"].astype(str))
    genes = list(data.columns)
    sets = {m: [read_values(run / f"samples/{m}/rep{r}.npz", genes) for r in reps] for m in models}
    transform = config.get("scaler", {}).get("transform", "log1p")
    table, pairs = pooled_out_of_fold(
        data, held, sets, transform=transform, max_genes=2000, seed=config.get("seed", 42)
    )
    per = read_table(run / "comparison_results_per_replicate.csv")
    c2st = per[per.metric == "c2st_gbt"]
    wide = c2st.pivot_table(index="replicate", columns="model", values="value")
    floor = c2st.groupby("replicate")["floor"].mean().to_numpy()
    ratio = split_ratio(0.2, len(reps))
    detected = {
        m: resampled_t_test(wide[m].to_numpy(), floor, ratio) < 0.05
        and wide[m].mean() > floor.mean()
        for m in models
    }
    named = read_table(run / "comparison_pairs.csv")
    named = named[(named.metric == "c2st_gbt") & (named.winner != "no clear winner")]
    print(
        f"== {run}\n{table.round(3).to_string(index=False)}\n{pairs.round(4).to_string(index=False)}"
    )
    print(f"per fold: c2st_gbt {wide.mean().round(3).to_dict()}, floor {floor.mean():.3f}")
    print(f"per fold: told from the floor {detected}; c2st_gbt pairs named: {len(named)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["planted", "run"])
    parser.add_argument("runs", nargs="*", type=Path, help="results/ folders of kfold runs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", default="60,100,200")
    args = parser.parse_args()
    if args.mode == "run":
        for run in args.runs:
            from_run(run)
        return
    table = planted(args.seeds, [int(s) for s in args.sizes.split(",")])
    summary = table.groupby(["defect", "n"], sort=False).agg(
        fold_auroc=("fold_auroc", "mean"),
        fold_floor=("fold_floor", "mean"),
        fold_detected=("fold_detected", "sum"),
        pooled_auroc=("pooled_auroc", "mean"),
        pooled_detected=("pooled_detected", "sum"),
        seeds=("seed", "count"),
    )
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
