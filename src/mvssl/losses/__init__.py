"""Losses as pure functions on tensors, one module per family."""
from .clustering import deepcluster_loss, sinkhorn, spherical_kmeans, swav_loss
from .contrastive import (cmc_loss, cross_view_nce, info_nce, mocov3_loss, nearest_neighbours, nnclr_loss, nt_xent,
                          view_pairs)
from .decorrelation import barlow_twins_loss, vicreg_loss, vicreg_terms
from .dinov2 import ibot_patch_loss, koleo_loss
from .distillation import byol_loss, cosine_distillation_loss, dino_loss, simsiam_loss
from .lejepa import lejepa_invariance, lejepa_loss, sigreg, sigreg_directions
from .jepa import ijepa_loss
from .masked import mae_loss
from .leave_one_out import leave_one_out_loss, leave_one_out_masks

__all__ = ["nt_xent", "info_nce", "cross_view_nce", "cmc_loss", "view_pairs", "mocov3_loss", "nearest_neighbours",
           "nnclr_loss", "barlow_twins_loss", "vicreg_loss", "vicreg_terms", "byol_loss", "simsiam_loss", "cosine_distillation_loss",
           "dino_loss", "sinkhorn", "swav_loss", "spherical_kmeans", "deepcluster_loss", "leave_one_out_loss",
           "leave_one_out_masks", "lejepa_loss", "lejepa_invariance", "sigreg", "sigreg_directions", "mae_loss", "ijepa_loss",
           "ibot_patch_loss", "koleo_loss"]
