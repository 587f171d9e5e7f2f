import sys

from .module import SSLModule
from .optim import LARS, build_optimizer, warmup_cosine
from .run import train

__all__ = ["SSLModule", "LARS", "build_optimizer", "warmup_cosine", "train"]


class _CallablePackage(sys.modules[__name__].__class__):
    """``mvssl.train(config)`` (the package called) is ``mvssl.train.train(config)``: the
    README's one-line Python equivalent of ``mvssl train``."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
