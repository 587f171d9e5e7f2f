"""Training with Lightning: ``run.train`` (``mvssl train``, ``mvssl.fit``) drives ``module.SSLModule``
through one Trainer; the rest are its parts (optimisers, checkpoints, run folders, resume, finishing).
Nothing is imported here, so ``train.optim`` or ``train.precision`` (bench) load no Lightning; the
names below come on first use."""
import importlib

__all__ = ["SSLModule", "LARS", "build_optimizer", "warmup_cosine", "train"]
_LAZY = {"SSLModule": ".module", "LARS": ".optim", "build_optimizer": ".optim", "warmup_cosine": ".optim",
         "train": ".run"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'mvssl.train' has no attribute {name!r}")
