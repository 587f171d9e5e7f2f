"""Methods: one small nn.Module per paper. ``METHODS`` maps CLI names to classes; most
constructors take ``backbone`` and ``feature_dim`` and then their own hyperparameters (a
method that builds its own encoders takes ``backbone_factory`` instead: see
``train.build.build_method``)."""
from .base import MethodOutput, encode_views, n_global_views
from .byol import BYOL
from .clip_simclr import ClipSimCLR
from .cmc import CMC
from .dino import DINO
from .er import ER_METHODS
from .looc import LooC
from .moco import MoCo
from .simclr import SimCLR
from .simsiam import SimSiam
from .swav import SwAV

METHODS = {"simclr": SimCLR, "clip-simclr": ClipSimCLR, "moco": MoCo, "cmc": CMC, "byol": BYOL, "simsiam": SimSiam, "swav": SwAV,
           "dino": DINO, "looc": LooC, **ER_METHODS}

__all__ = ["METHODS", "MethodOutput", "encode_views", "n_global_views", "SimCLR", "ClipSimCLR", "MoCo", "CMC", "BYOL",
           "SimSiam", "SwAV", "DINO", "LooC"]
