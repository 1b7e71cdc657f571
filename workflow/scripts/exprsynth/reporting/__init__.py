"""What the user reads: the figures and the verdict.

May import: `exprsynth.data`, `exprsynth.evaluation`, and the registry of
`exprsynth.models` (display names, colours). Never `io` or `config`.
"""
