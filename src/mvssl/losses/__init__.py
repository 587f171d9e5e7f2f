"""Losses as pure functions on tensors, one module per family."""
from .clustering import sinkhorn, swav_loss
from .contrastive import info_nce, nt_xent
from .distillation import byol_loss, dino_loss, simsiam_loss

__all__ = ["nt_xent", "info_nce", "byol_loss", "simsiam_loss", "dino_loss", "sinkhorn", "swav_loss"]
