"""Judging synthetic samples: the metrics, the suite run per generator and replicate,
and the statistics across replicates.

May import: `exprsynth.data`. Never `models` (a metric must not know who made the
samples), `io`, `config` or `reporting`.
"""
