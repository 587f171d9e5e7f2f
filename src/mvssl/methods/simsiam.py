"""SimSiam (Chen & He 2021): one encoder f (backbone + projection MLP) and a prediction
MLP h; each view's prediction matches the other view's projection, which is treated as
a constant (stop-gradient). No negatives, no momentum encoder."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import simsiam_loss
from ..nn import mlp
from .base import MethodOutput, n_global_views


class SimSiam(nn.Module):
    """Paper sizes (ImageNet): projector 3 layers of 2048 with BN on every output, predictor 2048 -> 512 ->
    2048, at the encoder's (fixed) learning rate. Here halved, and the predictor learns 10x faster
    (``predictor_lr_scale``; a relatively faster predictor helps non-contrastive learning, Tian et al. 2021;
    at the encoder's rate the embeddings collapsed to a low rank here: docs/methods.md). Each view in its
    own pass (BN statistics per view). Alg. 1: p_v = h(f(x_v)), L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2;
    with more views, the mean over (prediction of any view, projection of another global view)."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, proj_hidden_dim: int = 1024, proj_dim: int = 1024,
                 pred_hidden_dim: int = 256, predictor_lr_scale: float = 10.0):
        super().__init__()
        self.lr_scales = {"predictor": predictor_lr_scale}  # the trainer's optimiser reads it
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_hidden_dim, proj_dim], last_batch_norm=True)
        self.predictor = mlp([proj_dim, pred_hidden_dim, proj_dim])

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        n_global = n_global_views(views)
        h = [self.backbone(v) for v in views]  # one pass per view, as the reference code
        z = [self.projector(hv) for hv in h]
        p = [self.predictor(zv) for zv in z]
        pairs = [(v, t) for t in range(n_global) for v in range(len(views)) if v != t]
        loss = sum(simsiam_loss(p[v], z[t]) for v, t in pairs) / len(pairs)
        # collapse monitor from the paper (Fig. 2): std of the l2-normalised projection, ~1/sqrt(d) when healthy
        z_std = nn.functional.normalize(z[0].detach().float(), dim=1).std(0).mean()
        return MethodOutput(loss=loss, features=h[0], embeddings=z, logs={"z_std": z_std})
