"""One generator's hyperparameter search on one replicate (Optuna, TPE).

The objective is the two-sample AUROC of the generator's samples against a validation
split carved from the training split (`validation_split`): the metric the verdict leads
with, on data the trial never trained on. A trial whose samples copy training rows more
often than the validation rows lie that close to them (the floor, plus `COPY_MARGIN`) is
rejected: memorising the training rows must not win. The held-out test split is never
an input here.

Equal budgets: every tuned generator gets the same number of trials and the same CPU
seconds. The first trial is always the config's own settings, so the tuned choice is
never worse than the default on the validation split. A network reports the AUROC of its
half-trained samples; Optuna's median pruner stops a trial that is then worse than the
median of the trials before it at the same point, and a trial that would overrun the
CPU budget is stopped there. Trials are stored in an Optuna journal file: a killed job
resumes where it stopped, and each trial's sampler is seeded from the seed and the trial
number, so an interrupted search chooses what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..data.preprocess import Scaler
from ..evaluation import metrics as M
from ..evaluation.evaluate import copy_threshold
from ..models import GENERATORS
from ..models.base import TrainingError
from ..models.build import build_generator

# A trial may copy training rows at most this much more often than the floor (the share
# of validation rows that close to a training row): the tolerance the verdict allows.
COPY_MARGIN = 0.02
# Where a network's half-trained samples are scored, in percent of its epochs.
CHECKPOINT_PERCENT = 50
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def search_space(kind: str, settings: dict | None = None) -> dict:
    """The generator's search space (models/<module>.search.yaml); {} if it has none.
    With `settings`, each choice list also holds the setting's own value, so the first
    trial can run the config as it is."""
    path = MODELS_DIR / f"{GENERATORS[kind].module}.search.yaml"
    space = yaml.safe_load(path.read_text()) if path.exists() else {}
    for name, spec in space.items():
        if settings and "choices" in spec and settings[name] not in spec["choices"]:
            spec["choices"] = [settings[name], *spec["choices"]]
    return space


def suggest(trial, space: dict) -> dict:
    """One value per setting of the space, from Optuna's trial. Choices that are lists
    (hidden sizes) travel through Optuna as JSON text."""
    values = {}
    for name, spec in space.items():
        if "choices" in spec:
            text = trial.suggest_categorical(name, [json.dumps(c) for c in spec["choices"]])
            values[name] = json.loads(text)
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
            values[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        else:
            values[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
    return values


def as_optuna_params(values: dict, space: dict) -> dict:
    """Settings as `suggest` passes them to Optuna (choices as JSON text)."""
    return {k: json.dumps(v) if "choices" in space[k] else v for k, v in values.items()}


def validation_split(y: np.ndarray | None, n: int, fraction: float, seed: int):
    """(fit rows, validation rows) of the training split, stratified by label where every
    label has at least two samples."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(n)
    stratify = y if y is not None and np.bincount(y).min() >= 2 else None
    return train_test_split(rows, test_size=fraction, random_state=seed, stratify=stratify)


@dataclass
class Search:
    """What `tune` found: the chosen settings (only those of the space), every trial, and
    the budget spent."""

    chosen: dict
    trials: pd.DataFrame
    default_value: float
    chosen_value: float
    cpu_seconds: float
    exhausted: bool  # the CPU budget, not the number of trials, ended the search


class OutOfBudget(Exception):
    """A trial reached the end of the search's CPU budget."""


def tune(
    kind: str,
    x: np.ndarray,
    y: np.ndarray | None,
    n_labels: int,
    settings: dict,
    *,
    trials: int,
    cpu_seconds: float,
    validation_fraction: float,
    seed: int,
    zero_value: np.ndarray | None,
    journal: str | Path,
    scaler: Scaler | None = None,
    code_digest: str = "",
    device: str = "cpu",
) -> Search:
    """Search `kind`'s space around `settings` (its complete config section) on the
    scaled training split x (labels y). journal: the Optuna journal file (resumed if it
    holds this very search, run by the same code: `code_digest`). scaler: the replicate's;
    trials are scored on their samples as written, within the data's support (exact
    zeros, no values below a gene's smallest), as the evaluation scores them."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The first trial runs the config's own values, which may lie outside the ranges.
    warnings.filterwarnings("ignore", message="Fixed parameter .* is out of range")
    space = search_space(kind, settings)
    if not space:
        raise ValueError(f"{kind} has no search space ({kind}.search.yaml)")
    fit_rows, val_rows = validation_split(y, len(x), validation_fraction, seed)
    x_fit, x_val = x[fit_rows], x[val_rows]
    y_fit = None if y is None else y[fit_rows]
    threshold = copy_threshold(x_fit, x_val)
    floor_copies = float(np.mean(M.distance_to_closest(x_val, x_fit) < threshold))
    network = GENERATORS[kind].network

    def score(synth: np.ndarray) -> tuple[float, float]:
        if scaler is not None:  # what the user receives
            synth = scaler.transform(scaler.inverse_transform(synth))
        auroc, _, _ = M.c2st_auroc(x_val, synth, classifier="gbt", seed=seed)
        copies = float(np.mean(M.distance_to_closest(synth, x_fit) < threshold))
        return auroc, copies

    def objective(trial) -> float:
        values = suggest(trial, space)
        generator = build_generator(kind, x.shape[1], n_labels, {**settings, **values})
        start = time.process_time()
        checkpoint = math.ceil(
            values.get("epochs", settings.get("epochs", 1)) * CHECKPOINT_PERCENT / 100
        )

        def on_epoch(epoch, sample):
            if spent_before + time.process_time() - start > cpu_seconds:
                raise OutOfBudget
            if epoch == checkpoint:
                auroc, _ = score(sample(len(x_fit), y_fit, np.random.default_rng(seed)))
                trial.report(auroc, CHECKPOINT_PERCENT)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"half-trained AUROC {auroc:.3f}")

        try:
            generator.fit(
                x_fit,
                y_fit,
                seed=seed,
                zero_value=zero_value,
                device=device,
                **({"on_epoch": on_epoch, "scaler": scaler} if network else {}),
            )
            synth = generator.sample(len(x_fit), y_fit, np.random.default_rng(seed))
            auroc, copies = score(synth) if np.isfinite(synth).all() else (math.nan, math.nan)
        except OutOfBudget:
            trial.set_user_attr("stopped", "CPU budget")
            raise optuna.TrialPruned("CPU budget") from None
        except optuna.TrialPruned:
            trial.set_user_attr("stopped", "median pruner")
            raise
        except TrainingError as e:  # a setting that diverges is a bad setting, not a crash
            trial.set_user_attr("stopped", f"failed: {' '.join(str(e).split())[:200]}")
            raise optuna.TrialPruned from None
        finally:
            trial.set_user_attr("cpu_seconds", time.process_time() - start)
        trial.set_user_attr("near_copy_rate", copies)
        if not math.isfinite(auroc):
            trial.set_user_attr("stopped", "non-finite samples")
            raise optuna.TrialPruned
        if copies > floor_copies + COPY_MARGIN:
            trial.set_user_attr(
                "stopped", f"near copies {copies:.3f} > floor {floor_copies:.3f} + {COPY_MARGIN}"
            )
            raise optuna.TrialPruned
        return auroc

    # The study's identity: what determines its trials (not their number or the budget,
    # so raising either resumes the search instead of restarting it).
    identity = json.dumps(
        [kind, settings, space, validation_fraction, seed, code_digest], sort_keys=True
    )
    digest = hashlib.sha256(identity.encode())
    support = None if scaler is None else np.r_[scaler.lower, scaler.upper]
    for array in (x, y, zero_value, support):
        digest.update(b"-" if array is None else np.ascontiguousarray(array).tobytes())
    storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(
        study_name=f"{kind}-{digest.hexdigest()[:16]}",
        storage=storage,
        direction="minimize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    defaults = {k: settings[k] for k in space}
    spent_before = 0.0
    exhausted = False
    while True:
        # A trial left RUNNING by a killed job is over; it is neither counted nor resumed.
        done = [t for t in study.trials if t.state != optuna.trial.TrialState.RUNNING]
        spent_before = sum(t.user_attrs.get("cpu_seconds", 0.0) for t in done)
        if len(done) >= trials:
            break
        if spent_before >= cpu_seconds:
            exhausted = True
            break
        # Seeded by trial number: a resumed search suggests what an uninterrupted one would.
        study.sampler = optuna.samplers.TPESampler(seed=seed + len(done), n_startup_trials=5)
        if not done:
            study.enqueue_trial(as_optuna_params(defaults, space), skip_if_exists=True)
        study.optimize(objective, n_trials=1)
    return _summary(study, space, defaults, spent_before, exhausted)


def _summary(study, space, defaults, spent, exhausted) -> Search:
    import optuna

    rows = []
    for t in study.trials:
        if t.state == optuna.trial.TrialState.RUNNING:
            continue
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                # Optuna gives a pruned trial its last intermediate value: not an AUROC of
                # the finished model.
                "auroc": t.value if t.state == optuna.trial.TrialState.COMPLETE else math.nan,
                "half_trained_auroc": t.intermediate_values.get(CHECKPOINT_PERCENT, math.nan),
                "near_copy_rate": t.user_attrs.get("near_copy_rate", math.nan),
                "cpu_seconds": t.user_attrs.get("cpu_seconds", math.nan),
                "stopped": t.user_attrs.get("stopped", ""),
                **{k: _decoded(v, space[k]) for k, v in t.params.items()},
            }
        )
    table = pd.DataFrame(rows)
    complete = table[table.state == "complete"]
    first = table.iloc[0] if len(table) else None
    default_value = (
        float(first.auroc) if first is not None and first.state == "complete" else math.nan
    )
    if len(complete):
        best = complete.loc[complete.auroc.idxmin()]
        chosen = {k: _decoded(study.trials[int(best.trial)].params[k], space[k]) for k in space}
        chosen_value = float(best.auroc)
    else:  # no trial finished: the defaults stand
        chosen, chosen_value = dict(defaults), math.nan
    return Search(chosen, table, default_value, chosen_value, spent, exhausted)


def _decoded(value, spec: dict):
    return json.loads(value) if "choices" in spec else value
