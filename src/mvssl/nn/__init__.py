from .backbones import BACKBONES, ConvNet, build_backbone
from .heads import mlp

__all__ = ["BACKBONES", "ConvNet", "build_backbone", "mlp"]
