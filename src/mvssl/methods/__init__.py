"""Methods: one small nn.Module per paper. ``METHODS`` maps CLI names to classes; every
constructor takes ``backbone`` and ``feature_dim`` and then its own hyperparameters."""
from .base import MethodOutput, encode_views, n_global_views
from .byol import BYOL
from .dino import DINO
from .simclr import SimCLR
from .simsiam import SimSiam
from .swav import SwAV

METHODS = {"simclr": SimCLR, "byol": BYOL, "simsiam": SimSiam, "swav": SwAV, "dino": DINO}

__all__ = ["METHODS", "MethodOutput", "encode_views", "n_global_views", "SimCLR", "BYOL", "SimSiam", "SwAV",
           "DINO"]
