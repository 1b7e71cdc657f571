"""exprsynth: compare a VAE and a GAN (and reference generators) on expression data.

`load_generator(path).sample(n, label=...)` draws synthetic profiles from a saved
checkpoint. Heavy libraries load on first use, so rule scripts that need only pandas
or numpy start quickly.
"""

__version__ = "0.1.0"

__all__ = ["load_generator", "__version__"]


def __getattr__(name):
    if name == "load_generator":
        from .generator import load_generator

        return load_generator
    raise AttributeError(name)
