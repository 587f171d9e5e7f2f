"""Losses as pure functions on tensors, one module per family."""
from .contrastive import cmc_loss, cross_view_nce, info_nce, nt_xent, view_pairs

__all__ = ["nt_xent", "info_nce", "cross_view_nce", "cmc_loss", "view_pairs"]
