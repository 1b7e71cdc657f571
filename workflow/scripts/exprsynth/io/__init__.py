"""Files in and out: the workflow's own tables and matrices (`files`), the user's data
(`user_data`, with `checks` and `h5ad`), and checkpoints (`checkpoint`).

May import: `exprsynth.data`, and `exprsynth.models` for checkpoints only. Writers go
through a temporary file and a rename, so a killed job never leaves a half-written output.
"""
