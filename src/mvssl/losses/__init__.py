"""Losses as pure functions on tensors, one module per family."""
from .clustering import sinkhorn, swav_loss
from .contrastive import cmc_loss, cross_view_nce, info_nce, nt_xent, view_pairs
from .distillation import byol_loss, dino_loss, simsiam_loss
from .leave_one_out import leave_one_out_loss, leave_one_out_masks

__all__ = ["nt_xent", "info_nce", "cross_view_nce", "cmc_loss", "view_pairs", "byol_loss", "simsiam_loss",
           "dino_loss", "sinkhorn", "swav_loss", "leave_one_out_loss", "leave_one_out_masks"]
