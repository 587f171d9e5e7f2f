from .backbones import BACKBONES, ConvNet, build_backbone
from .ema import cosine_momentum, ema_update, frozen_copy
from .heads import DINOHead, mlp
from .state import Centre, EmbeddingQueue

__all__ = ["BACKBONES", "ConvNet", "build_backbone", "mlp", "DINOHead", "ema_update", "cosine_momentum",
           "frozen_copy", "Centre", "EmbeddingQueue"]
