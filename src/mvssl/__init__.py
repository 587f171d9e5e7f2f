"""mvssl: multi-view self-supervised learning, with views you can design, measure and learn.

``mvssl.load(path)`` gives a trained ``Encoder``; ``mvssl.fit(config)`` trains one (the same as
``mvssl train`` on the command line) and ``mvssl.fit(resume=run_dir)`` continues one. Both are
imported on first use, so ``import mvssl`` (and ``mvssl --help``) loads no torch, and loading an
encoder loads no trainer (Lightning): ``mvssl.train`` is the training package."""
import importlib

__version__ = "0.1.0"
__all__ = ["Encoder", "load", "fit", "__version__"]
_LAZY = {"Encoder": (".encoder", "Encoder"), "load": (".encoder", "load"), "fit": (".train.run", "train")}


def __getattr__(name: str):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module, __name__), attribute)
    if name == "train":  # the package (mvssl.train.run.train is mvssl.fit)
        return importlib.import_module(".train", __name__)
    raise AttributeError(f"module 'mvssl' has no attribute {name!r}")
