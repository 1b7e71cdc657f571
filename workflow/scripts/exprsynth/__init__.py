"""exprsynth: which generator makes the most realistic, useful and private synthetic
expression data, judged on held-out samples over replicates.

`load_generator(path).sample(n, label=...)` draws synthetic profiles from a saved
checkpoint. Heavy libraries load on first use, so rule scripts that need only pandas
or numpy start quickly.

The subpackages, in the order of the pipeline (docs/design.md): `data` (simulated cohort,
split, scaler), `models` (the generators behind one interface and registry), `evaluation`
(metrics and statistics), `reporting` (figures, verdict), and `io` (every file in or out);
`config` validates the workflow's config against its schema.
"""

__version__ = "0.1.0"

__all__ = ["load_generator", "__version__"]


def __getattr__(name):
    if name == "load_generator":
        from .io.checkpoint import load_generator

        return load_generator
    raise AttributeError(name)
