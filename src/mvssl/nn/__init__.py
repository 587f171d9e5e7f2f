from .backbones import BACKBONES, ConvNet, build_backbone
from .critic import TwoViewCritic, fit_critic
from ..distributed import gather_from_all_ranks
from .ema import cosine_momentum, cosine_schedule, ema_update, frozen_copy
from .heads import DINOHead, mlp
from .memory_bank import MemoryBank
from .queue import NegativesQueue
from .split_encoder import SplitEncoder
from .state import Centre, EmbeddingQueue
from .sync_batchnorm import GlobalBatchNorm, convert_to_global_batchnorm

__all__ = ["BACKBONES", "ConvNet", "build_backbone", "mlp", "DINOHead", "ema_update", "cosine_momentum", "cosine_schedule",
           "frozen_copy", "NegativesQueue", "MemoryBank", "SplitEncoder", "gather_from_all_ranks", "Centre",
           "EmbeddingQueue", "GlobalBatchNorm", "convert_to_global_batchnorm", "TwoViewCritic", "fit_critic"]
