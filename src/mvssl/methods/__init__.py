"""Methods: one small nn.Module per paper. ``METHODS`` maps CLI names to classes; every
constructor takes ``backbone`` and ``feature_dim`` and then its own hyperparameters."""
from .base import MethodOutput
from .simclr import SimCLR

METHODS = {"simclr": SimCLR}

__all__ = ["METHODS", "MethodOutput", "SimCLR"]
