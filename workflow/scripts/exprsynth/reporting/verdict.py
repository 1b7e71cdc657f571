"""The verdict: the comparison's summary table read out for the user, as reStructuredText."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.compare import ALPHA, oriented_score
from ..evaluation.metrics import METRIC_BY_NAME
from ..models import REFERENCES, display_name, kind_of


# Metrics quoted in the verdict's table, in this order.
HEADLINE = [
    "c2st_gbt",
    "gamma",
    "log2_var_ratio",
    "recall",
    "precision",
    "tstr_auroc",
    "dcr_ratio",
    "near_copy_rate",
    "mia_auroc",
    "domias_auroc",
    "domias_tpr_1fpr",
]


def _fmt(row: pd.Series) -> str:
    if np.isfinite(row["ci_low"]):
        return f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"
    return f"{row['mean']:.3g}" if np.isfinite(row["mean"]) else "n/a"


def verdict_rst(
    summary: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    test_train_ratio: float,
    folds: int | None = None,
    contenders: tuple[str, str] = ("vae", "gan"),
    against: str = "test",
    data_notes: list[str] = (),
    tuning: dict[str, list[dict]] | None = None,
    privacy: dict[str, tuple[float, float]] | None = None,
    pooled: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    auto_below: int | None = None,
) -> str:
    """The report's first page. It answers first whether a network beats the simple
    references, then how the two networks compare, then every pair; the table follows.

    summary, pairs: `evaluation.compare.summarise`. test_train_ratio: n_test / n_train of a
    replicate's split, the correction of the test. folds: K when the replicates are the K
    folds of one cross-fitting (split.scheme kfold), None for random re-splits. against:
    the split the samples were scored against (config evaluation.against). data_notes: what the data step reported,
    its first line the data's size, then what it changed (classes merged or dropped).
    tuning: per tuned generator, each replicate's search summary (the tuner's chosen.yaml).
    privacy: per differentially private run, (epsilon spent, delta), the largest over its
    replicates; every other generator is named as having no guarantee.
    pooled: split.scheme kfold's pooled out-of-fold table and its pairs
    (`evaluation.pooled.pooled_out_of_fold`). auto_below: under split.scheme auto, the
    cohort size from which it re-splits at random instead of cross-fitting."""
    a, b = contenders
    per_metric = summary.drop_duplicates("metric").set_index("metric")
    models = list(summary.model.unique())
    # The networks, and samples made elsewhere (config external): each against the references.
    networks = [m for m in models if kind_of(m) not in REFERENCES]
    references = [m for m in models if kind_of(m) in REFERENCES]
    n = int(summary["n_replicates"].max())
    tested = pairs[pairs["p_value"].notna()]
    if against == "train":
        scored = "the training split they were trained on (``evaluation.against: train``, as in the original comparison; privacy metrics mean nothing then)"
        floor = "real training samples scored against themselves"
    else:
        scored, floor = "a held-out test split", "real training vs real test samples"
    lines = ["Verdict", "=======", ""]
    size = f"The data: {data_notes[0]}. " if data_notes else ""

    def scheme(name: str) -> str:
        if auto_below:
            return (
                f"``split.scheme: auto`` chose {name}: it cross-fits cohorts below "
                f"{auto_below} samples given at least 5 replicates"
            )
        return f"``split.scheme: {name}``"

    each = f"(each re-splits at random, re-trains and re-evaluates; {scheme('random')})."
    if folds:
        each = (
            f"(each holds out one fold, re-trains and re-evaluates). Replicates are the {folds} "
            f"folds of one cross-fitting: every sample is held out once ({scheme('kfold')})."
        )
    lines.append(
        f"{size}Synthetic samples were scored against {scored} over **{n} replicate"
        f"{'s' if n != 1 else ''}** {each}"
    )
    if len(tested):
        lines.append(
            f"Differences are tested with the corrected resampled t-test (Nadeau & Bengio, 2003): "
            f"replicates {'are folds of' if folds else 're-split'} one cohort, so their scores are "
            f"correlated, and the variance of "
            f"the mean difference is inflated to (1/{n} + {test_train_ratio:.2g}) s², where the "
            f"plain paired t-test uses s²/{n}. A difference counts where p < {ALPHA} after "
            f"adjusting for the {len(tested)} tests made together (every pair of generators on "
            f"every ranked metric; Benjamini-Hochberg)."
        )
    lines.append("")
    if len(data_notes) > 1:
        lines += [
            "Changed on the way in:",
            "",
            *[f"- {note.removeprefix('note: ')}" for note in data_notes[1:]],
            "",
        ]
    if n < 2:
        lines += [
            "With a single replicate no difference can be tested, so no winner is named; "
            "set ``replicates`` to at least 3 in ``config.yaml`` for a verdict.",
            "",
        ]
    if networks and references:
        lines += _against_references(summary, pairs, networks, references)
    if pooled is not None:
        lines += _pooled_lines(*pooled)
    if tuning:
        lines += _tuning_lines(tuning, pairs)
    lines += _privacy_lines(models, privacy or {})
    if {a, b} <= set(models):
        wins = {m: per_metric.index[per_metric["winner"] == m].tolist() for m in contenders}
        unclear = per_metric.index[per_metric["winner"] == "no clear winner"].tolist()
        # Both networks NaN on every replicate: e.g. augmentation_gain on 50 training samples or fewer.
        means = summary.pivot_table(
            index="metric", columns="model", values="mean", dropna=False, sort=False
        )
        missing = means.index[means[a].isna() & means[b].isna()].tolist()
        title = f"{display_name(a)} against {display_name(b)}"
        lines += [title, "-" * len(title), ""]
        for m in contenders:
            if wins[m]:
                lines.append(
                    f"- **{display_name(m)} wins** on {_count(wins[m])}: {', '.join(wins[m])}."
                )
        if unclear:
            lines.append(f"- **No clear winner** on {_count(unclear)}: {', '.join(unclear)}.")
        if missing:
            lines.append(f"- **Not computed** on this data (NaN for both): {', '.join(missing)}.")
        lines.append("")
    if len(models) > 2:
        lines += ["Every pair", "----------", ""]
        header = ["pair", "first better on", "second better on", "no clear difference"]
        rows = []
        for (x, y), g in pairs.groupby(["model_a", "model_b"], sort=False):
            rows.append(
                [
                    f"{display_name(x)} vs {display_name(y)}",
                    str(int((g.winner == x).sum())),
                    str(int((g.winner == y).sum())),
                    str(int((g.winner == "no clear winner").sum())),
                ]
            )
        lines += [*_rst_table(header, rows), ""]
    duel = {a, b} <= set(models)
    lines += [
        f"Headline metrics (mean [95% CI]; floor = {floor}"
        + (
            f"; the last column: {display_name(a)} vs {display_name(b)}, p adjusted as above):"
            if duel and len(tested)
            else "):"
        ),
        "",
    ]
    header = [
        "metric",
        "better",
        "floor",
        *[display_name(m) for m in models],
        *(["winner (p)"] if duel else []),
    ]
    rows = []
    for metric in HEADLINE:
        if metric not in per_metric.index:
            continue
        g = summary[summary.metric == metric].set_index("model")
        p = per_metric.loc[metric, "p_adjusted"]
        winner = per_metric.loc[metric, "winner"]
        rows.append(
            [
                metric,
                per_metric.loc[metric, "better"],
                f"{per_metric.loc[metric, 'floor']:.3g}",
                *[_fmt(g.loc[m]) for m in models],
                *(
                    [f"{display_name(winner)} ({_p(p)})" if np.isfinite(p) else winner]
                    if duel
                    else []
                ),
            ]
        )
    lines += _rst_table(header, rows)
    lines += [
        "",
        "Every metric with its interval is in ``comparison_results.csv``, every pair's test in "
        "``comparison_pairs.csv``, and the forest plot shows them.",
    ]
    return "\n".join(lines) + "\n"


def _against_references(summary, pairs, networks, references) -> list[str]:
    """Per network: the metrics where it beats the best reference on that metric (the one
    with the better mean), where that reference beats it, and where neither does."""
    lines = ["Do the networks beat the references?", "-" * 36, ""]
    tested = pairs["p_value"].notna().any()
    if not tested:
        lines += ["Untested (one replicate): where each mean is better.", ""]
    for net in networks:
        beats, loses, unclear = [], [], 0
        for metric, g in summary.groupby("metric", sort=False):
            if not METRIC_BY_NAME[metric].ranked:
                continue
            g = g.set_index("model")
            better = METRIC_BY_NAME[metric].better
            score = {
                r: float(oriented_score([g.loc[r, "mean"]], better, g.loc[r, "floor"])[0])
                for r in references
            }
            score = {r: v for r, v in score.items() if np.isfinite(v)}
            if not score:
                continue
            best = max(score, key=score.get)
            row = pairs[
                (pairs.metric == metric)
                & (
                    ((pairs.model_a == net) & (pairs.model_b == best))
                    | ((pairs.model_a == best) & (pairs.model_b == net))
                )
            ]
            if row.empty:
                continue
            row = row.iloc[0]
            p = (
                f"{display_name(best)}, {_p(row.p_adjusted)}"
                if np.isfinite(row.p_adjusted)
                else display_name(best)
            )
            winner = row.winner if tested else row.leader
            if winner == net:
                beats.append(f"{metric} ({p})")
            elif winner == best:
                loses.append(f"{metric} ({p})")
            else:
                unclear += 1
        name = display_name(net)
        lines.append(
            f"- **{name}** beats the best reference on {_count(beats)}"
            + (f": {', '.join(beats)}" if beats else "")
            + f"; the best reference beats it on {_count(loses)}"
            + (f": {', '.join(loses)}" if loses else "")
            + f"; no clear difference on {_count(range(unclear))}."
        )
        for ref in references:
            lines.append(f"  - against the {display_name(ref)}: " + _pair_line(pairs, net, ref))
    return [*lines, ""]


def _pooled_lines(table: pd.DataFrame, pairs: pd.DataFrame) -> list[str]:
    """split.scheme kfold: each generator's two-sample test on the pooled held-out folds,
    and every pair compared there."""
    rows = table.set_index("model")
    real = rows.loc["real"]
    k, n = int(real["k"]), int(rows["n_real"].max())  # the floor's row: halves
    lines = [
        "Pooled out-of-fold",
        "------------------",
        "",
        f"``split.scheme: kfold``, K = {k}: the {k} held-out folds pooled are all n = {n} real "
        "samples, each scored against the samples of the generator that did not train on it "
        "(each fold's generator in proportion to its fold's size), in one scaler fitted on all "
        "real samples. One two-sample test per generator on the pooled sets (boosted trees; "
        "the mean AUROC of the detector's cross-validation folds, 0.5 = indistinguishable, "
        "with a 95% interval and p from the corrected resampled t-test over those folds); "
        "real against "
        f"real (two random halves) reads {real['c2st_gbt']:.3f}, k-NN precision "
        f"{real['precision']:.2f}, recall {real['recall']:.2f}, coverage {real['coverage']:.2f}.",
        "",
    ]
    for model, r in rows.drop(index="real").iterrows():
        if not np.isfinite(r.get("c2st_gbt", np.nan)):
            lines.append(
                f"- **{display_name(model)}**: not computed (a fold's synthetic set is smaller "
                "than its held-out fold; raise ``generate.n_samples``)."
            )
            continue
        told = "told from" if r["p_vs_chance"] < ALPHA else "not told from"
        lines.append(
            f"- **{display_name(model)}**: {r['c2st_gbt']:.3f} [{r['ci_low']:.3f}, "
            f"{r['ci_high']:.3f}] on {int(r['n_synthetic'])} synthetic samples, {told} real "
            f"samples (one-sided {_p(r['p_vs_chance'])} against 0.5); k-NN precision "
            f"{r['precision']:.2f}, recall {r['recall']:.2f}, coverage {r['coverage']:.2f}."
        )
    if len(pairs):
        lines += [
            "",
            "Every pair on the pooled AUROC (lower is better), paired by the detector's folds "
            "(each holds the same real samples for every generator), p adjusted over the "
            f"{len(pairs)} pair{'s' if len(pairs) != 1 else ''} (Benjamini-Hochberg):",
            "",
        ]
        for r in pairs.itertuples():
            verdict = (
                f"**{display_name(r.winner)}** better"
                if r.winner != "no clear winner"
                else "no clear difference"
            )
            lines.append(
                f"- {display_name(r.model_a)} {r.auroc_a:.3f} vs {display_name(r.model_b)} "
                f"{r.auroc_b:.3f}: {verdict} (adjusted {_p(r.p_adjusted)})."
            )
    return [*lines, ""]


def _tuning_lines(tuning: dict[str, list[dict]], pairs: pd.DataFrame) -> list[str]:
    """Per tuned generator: the budget it had and spent, what the search chose, and the
    tuned run against the default one on the test split."""
    first = next(iter(tuning.values()))[0]["budget"]
    lines = [
        "Tuning",
        "------",
        "",
        f"Every tuned generator had the same budget per replicate: {first['trials']} trials and "
        f"{first['cpu_seconds']:g} CPU-seconds, scored by the two-sample AUROC on a validation "
        "split of the replicate's training split (the test split was never read), trials "
        "copying training rows more than the real data do rejected; the first trial is the "
        "config's own settings.",
        "",
    ]
    for kind, searches in tuning.items():
        budgets = [s["budget"] for s in searches]
        default = np.median([s["validation_auroc"]["default"] for s in searches])
        chosen = np.median([s["validation_auroc"]["chosen"] for s in searches])
        exhausted = sum(b["exhausted"] for b in budgets)
        lines.append(
            f"- **{display_name(kind)}**: {int(np.median([b['trials_run'] for b in budgets]))} "
            f"trials and {np.median([b['cpu_seconds_spent'] for b in budgets]):.0f} CPU-seconds "
            f"per replicate (median); the CPU budget ended the search in {exhausted} of "
            f"{len(searches)} replicates. Validation AUROC {default:.3f} at the config's settings, "
            f"{chosen:.3f} chosen (medians). On the test split, tuned against default: "
            + _pair_line(pairs, f"{kind}-tuned", kind)
        )
        values = ", ".join(f"{k} {_short(v)}" for k, v in searches[0]["settings"].items())
        lines.append(f"  - chosen in the first replicate: {values}.")
    return [*lines, ""]


def _privacy_lines(models: list[str], privacy: dict[str, tuple[float, float]]) -> list[str]:
    """The guarantee of every generator: epsilon for the private runs, none for the rest."""
    lines = ["Privacy guarantee", "-----------------", ""]
    for m in models:
        if m in privacy:
            epsilon, delta = privacy[m]
            lines.append(
                f"- **{display_name(m)}**: differentially private, ε = {epsilon:.4g} at "
                f"δ = {delta:.2g} (spent, the largest over replicates)."
            )
    others = [display_name(m) for m in models if m not in privacy]
    if others:
        lines.append(
            f"- **No guarantee**: {', '.join(others)}. Their privacy metrics are leakage "
            "measured by the attacks here, not a bound against any other."
        )
    return [*lines, ""]


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _pair_line(pairs: pd.DataFrame, net: str, ref: str) -> str:
    """Where a network beats one reference and where it loses to it, each with its adjusted p."""
    g = pairs[
        ((pairs.model_a == net) & (pairs.model_b == ref))
        | ((pairs.model_a == ref) & (pairs.model_b == net))
    ]
    g = g[g.p_value.notna()]
    if g.empty:
        return "untested."
    won = [f"{r.metric} ({_p(r.p_adjusted)})" for r in g.itertuples() if r.winner == net]
    lost = [f"{r.metric} ({_p(r.p_adjusted)})" for r in g.itertuples() if r.winner == ref]
    return (
        f"better on {_count(won)}"
        + (f" ({', '.join(won)})" if won else "")
        + f", worse on {_count(lost)}"
        + (f" ({', '.join(lost)})" if lost else "")
        + f", no clear difference on {_count(range(len(g) - len(won) - len(lost)))}."
    )


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p {p:.2g}"


def _count(metrics) -> str:
    return f"{len(metrics)} metric{'s' if len(metrics) != 1 else ''}"


def _rst_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    rule = " ".join("=" * w for w in widths)
    fmt = lambda r: " ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return [rule, fmt(header), rule, *[fmt(r) for r in rows], rule]
