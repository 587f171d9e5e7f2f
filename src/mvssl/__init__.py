"""mvssl: multi-view self-supervised learning, with views you can design, measure and learn.

``mvssl.load(path)`` gives a trained ``Encoder``; ``mvssl.train(config)`` trains one (the same
as ``mvssl train`` on the command line). Both are imported on first use, so ``import mvssl``
(and ``mvssl --help``) does not load torch."""
import importlib

__version__ = "0.1.0"
__all__ = ["Encoder", "load", "train", "__version__"]


def __getattr__(name: str):
    if name in ("Encoder", "load"):
        return getattr(importlib.import_module(".encoder", __name__), name)
    if name == "train":  # the package, callable as its train() (train/__init__.py)
        return importlib.import_module(".train", __name__)
    raise AttributeError(f"module 'mvssl' has no attribute {name!r}")
