"""Rule compare_models: one table of every metric per model, with CIs and the verdict."""

import sys
from pathlib import Path

import pandas as pd
import yaml

from exprsynth.evaluation.compare import split_ratio, summarise
from exprsynth.io.files import atomic_path, read_table, write_csv
from exprsynth.reporting.verdict import verdict_rst


def main(
    *,
    metrics: list[str],
    floors: list[str],
    data_notes: str,
    summary: str,
    per_replicate: str,
    pairs: str,
    verdict: str,
    test_fraction: float,
    folds: int | None = None,
    against: str = "test",
    tuning: list[str] = (),
    histories: list[str] = (),
    pooled: str | None = None,
    pooled_pairs: str | None = None,
    scheme: str = "random",
    auto_below: int | None = None,
) -> None:
    def replicate(path: Path) -> int:  # results/metrics/{model}/rep{rep}.csv
        return int(path.stem.removeprefix("rep"))

    # Each replicate's floor (the real training split's scores) beside every model's.
    floor = {replicate(p): read_table(p).set_index("metric")["value"] for p in map(Path, floors)}
    frames = []
    for path in map(Path, metrics):
        frame = read_table(path)
        frame.insert(0, "model", path.parent.name)
        frame.insert(0, "replicate", replicate(path))
        frame["floor"] = frame["metric"].map(floor[replicate(path)])
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    write_csv(table, per_replicate)
    # n_test / n_train of every replicate's split, for the corrected resampled t-test.
    ratio = split_ratio(test_fraction, folds)
    result, tests = summarise(table, test_train_ratio=ratio)
    write_csv(result, summary)
    write_csv(tests, pairs)
    searches = {}  # results/tuning/{model}/rep{rep}/chosen.yaml, per generator
    for path in map(Path, tuning):
        searches.setdefault(path.parent.parent.name, []).append(yaml.safe_load(path.read_text()))
    privacy = {}  # results/models/{model}/rep{rep}/history.csv: a private run's epsilon, delta
    for path in map(Path, histories):
        last = read_table(path).iloc[-1]
        if "epsilon" in last:
            spent = privacy.get(path.parent.parent.name, (0.0, 0.0))
            privacy[path.parent.parent.name] = tuple(map(max, spent, (last.epsilon, last.delta)))
    with atomic_path(verdict) as tmp:
        data = Path(data_notes).read_text().splitlines()
        tmp.write_text(
            verdict_rst(
                result,
                tests,
                test_train_ratio=ratio,
                folds=folds,
                against=against,
                data_notes=data,
                tuning=searches,
                privacy=privacy,
                pooled=(read_table(pooled), read_table(pooled_pairs)) if pooled else None,
                auto_below=auto_below if scheme == "auto" else None,
            )
        )
    print(result.to_string(index=False), file=sys.stderr)


if "snakemake" in globals():
    sys.stderr = open(snakemake.log[0], "w", buffering=1)
    main(
        metrics=list(snakemake.input.metrics),
        floors=list(snakemake.input.floors),
        data_notes=snakemake.input.data_notes,
        tuning=list(snakemake.input.tuning),
        histories=list(snakemake.input.histories),
        pooled=snakemake.input.get("pooled"),
        pooled_pairs=snakemake.input.get("pooled_pairs"),
        summary=snakemake.output.summary,
        per_replicate=snakemake.output.per_replicate,
        pairs=snakemake.output.pairs,
        verdict=snakemake.output.verdict,
        **snakemake.params,
    )
