"""Methods: one small nn.Module per paper. ``METHODS`` maps CLI names to classes; most
constructors take ``backbone`` and ``feature_dim`` and then their own hyperparameters (a
method that builds its own encoders takes ``backbone_factory`` instead: see
``train.build.build_method``)."""
from .base import MethodOutput
from .cmc import CMC
from .moco import MoCo
from .simclr import SimCLR

METHODS = {"simclr": SimCLR, "moco": MoCo, "cmc": CMC}

__all__ = ["METHODS", "MethodOutput", "SimCLR", "MoCo", "CMC"]
