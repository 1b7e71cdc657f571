"""Score generator variants on one replicate of the configured cohort, side by side.

    python workflow/bench/generator_quality.py vae vae:latent_sampling=mixture gan mixture
        [--config config.yaml] [--replicate 0] [--threads 2]

Each variant is a generator name with optional settings (name:key=value,key=value; values
read as YAML, a mapping merged into the section's own) over its config section. The cohort, split and scaler are the workflow's for
that replicate. Each variant draws the training split's size of samples, with its labels,
and is scored against the held-out split by:
- detector AUROC: scikit-learn's HistGradientBoostingClassifier() at its defaults, 5-fold
  cross-validated, every synthetic sample against the held-out samples (0.5 =
  indistinguishable); the floor row puts the real training split in their place;
- the workflow's c2st_gbt (balanced, small trees), k-NN precision and recall, and the
  near-copy rate.
Numbers depend on the machine (CPU determinism holds per machine, not across processor types).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
from exprsynth.config import merged, validate_config  # noqa: E402
from exprsynth.data.preprocess import fit_scaler, split_data, split_samples  # noqa: E402
from exprsynth.data.simulate import simulate_cohort  # noqa: E402
from exprsynth.evaluation import metrics as M  # noqa: E402
from exprsynth.evaluation.evaluate import copy_threshold  # noqa: E402
from exprsynth.models import GENERATORS  # noqa: E402
from exprsynth.models.build import build_generator  # noqa: E402
from exprsynth.models.trained import proportional_counts  # noqa: E402


def detector_auroc(real: np.ndarray, synth: np.ndarray, seed: int = 0) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.vstack([real, synth])
    t = np.r_[np.zeros(len(real)), np.ones(len(synth))]
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(
        HistGradientBoostingClassifier(random_state=seed), x, t, cv=cv, method="predict_proba"
    )
    return float(roc_auc_score(t, p[:, 1]))


def parse_variant(text: str) -> tuple[str, dict]:
    kind, _, rest = text.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        settings[key] = yaml.safe_load(value)
    return kind, settings


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+")
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    parser.add_argument("--replicate", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    config = validate_config(yaml.safe_load(Path(args.config).read_text()) or {})
    sim = config["simulate"]
    cohort = simulate_cohort(**{k: tuple(v) if isinstance(v, list) else v for k, v in sim.items()})
    label = config["label_column"] if config["conditional"] else None
    seed = config["seed"] + args.replicate
    labels = cohort.metadata.set_index("sample_id")[config["label_column"]]
    split = split_samples(
        cohort.expression.index, labels, test_fraction=config["split"]["test_fraction"], seed=seed
    )
    train_ids = split.loc[split.split == "train", "sample_id"]
    scaler = fit_scaler(
        cohort.expression.loc[train_ids].to_numpy(),
        config["scaler"]["transform"],
        decide_on=cohort.expression.to_numpy(),
    )
    data = split_data(cohort.expression, cohort.metadata, split, scaler, label)
    tr, te = data.x_train, data.x_test
    threshold = copy_threshold(tr, te)
    rows = []

    def score(name: str, synth: np.ndarray, seconds: float) -> None:
        precision, recall, _ = M.knn_precision_recall_coverage(te, synth, seed=seed)
        rows.append(
            {
                "variant": name,
                "detector_auroc": detector_auroc(te, synth, seed),
                "c2st_gbt": M.c2st_auroc(te, synth, classifier="gbt", seed=seed)[0],
                "precision": precision,
                "recall": recall,
                "near_copy_rate": float(np.mean(M.distance_to_closest(synth, tr) < threshold)),
                "fit_s": seconds,
            }
        )
        print(
            pd.DataFrame(rows[-1:]).round(3).to_string(index=False, header=len(rows) == 1),
            flush=True,
        )

    score("floor (real train)", tr, 0.0)
    n_labels = len(data.label_levels)
    for text in args.variants:
        kind, overrides = parse_variant(text)
        settings = merged(config[kind], overrides)  # vae:privacy={epsilon: 4} merges
        generator = build_generator(kind, tr.shape[1], n_labels, settings)
        start = time.perf_counter()
        network = GENERATORS[kind].network  # the references' fit takes no scaler
        generator.fit(
            tr, data.y_train, seed=seed, device="cpu", **({"scaler": scaler} if network else {})
        )
        seconds = time.perf_counter() - start
        rng = np.random.default_rng(seed)
        y = None
        if n_labels:
            counts = [int((data.y_train == k).sum()) for k in range(n_labels)]
            y = rng.permutation(
                np.repeat(np.arange(n_labels), proportional_counts(counts, len(tr)))
            )
        score(text, generator.sample(len(tr), y, rng), seconds)


if __name__ == "__main__":
    main()
