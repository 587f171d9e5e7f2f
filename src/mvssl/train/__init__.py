from .module import SSLModule
from .optim import LARS, build_optimizer, warmup_cosine
from .run import train

__all__ = ["SSLModule", "LARS", "build_optimizer", "warmup_cosine", "train"]
