"""Hyperparameter search: the same budget of Optuna trials for every tuned generator,
each trial scored on a validation split carved from the replicate's training split.

May import: `exprsynth.data`, `exprsynth.models`, `exprsynth.evaluation`. Never `io`,
`config`, `reporting` or snakemake: the rule script reads and writes the files.
"""
