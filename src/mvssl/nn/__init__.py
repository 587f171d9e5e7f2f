from .backbones import BACKBONES, ConvNet, build_backbone
from .distributed import gather_from_all_ranks
from .ema import ema_update, frozen_copy
from .heads import mlp
from .memory_bank import MemoryBank
from .queue import NegativesQueue
from .split_encoder import SplitEncoder

__all__ = ["BACKBONES", "ConvNet", "build_backbone", "mlp", "ema_update", "frozen_copy", "NegativesQueue",
           "MemoryBank", "SplitEncoder", "gather_from_all_ranks"]
