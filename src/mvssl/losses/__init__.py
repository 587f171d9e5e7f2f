"""Losses as pure functions on tensors, one module per family."""
from .contrastive import info_nce, nt_xent

__all__ = ["nt_xent", "info_nce"]
