"""Methods: one small nn.Module per paper. ``METHODS`` maps CLI names to classes. A class
declares in ``needs`` what it takes from the run (``base.NEEDS``: most take ``backbone`` and
``feature_dim``), and its other constructor arguments, with their defaults, are its
hyperparameters (``base.hyperparameters``: the ``method`` config section)."""
from .barlow_twins import BarlowTwins
from .base import MethodOutput, encode_pair, encode_views, n_global_views
from .byol import BYOL
from .clip_simclr import ClipSimCLR
from .cmc import CMC
from .deepcluster import DeepClusterV2
from .dino import DINO
from .dinov2 import DINOv2
from .distill import Distill
from .er import ER_METHODS
from .ijepa import IJEPA
from .lejepa import LeJEPA
from .looc import LooC
from .mae import MAE
from .moco import MoCo
from .mocov3 import MoCoV3
from .nnclr import NNCLR
from .simclr import SimCLR
from .simsiam import SimSiam
from .swav import SwAV
from .vicreg import VICReg

METHODS = {"simclr": SimCLR, "clip-simclr": ClipSimCLR, "moco": MoCo, "mocov3": MoCoV3, "nnclr": NNCLR, "cmc": CMC,
           "byol": BYOL, "simsiam": SimSiam, "barlow-twins": BarlowTwins, "vicreg": VICReg, "swav": SwAV,
           "deepcluster": DeepClusterV2, "dino": DINO, "dinov2": DINOv2, "distill": Distill, "lejepa": LeJEPA, "mae": MAE, "ijepa": IJEPA, "looc": LooC, **ER_METHODS}

__all__ = ["METHODS", "MethodOutput", "encode_pair", "encode_views", "n_global_views", "SimCLR", "ClipSimCLR", "MoCo",
           "MoCoV3", "NNCLR", "CMC", "BYOL", "SimSiam", "BarlowTwins", "VICReg", "SwAV", "DeepClusterV2", "DINO", "DINOv2", "Distill", "LeJEPA", "MAE", "IJEPA", "LooC"]
