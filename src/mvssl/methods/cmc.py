"""CMC, Contrastive Multiview Coding (Tian, Krishnan & Isola 2019): an image is split into colour-channel
views (L | ab, Y | DbDr, Y | Db | Dr, L | a | b | S with S the HSV saturation, or channel groups of any
number of bands), each with its own encoder f_v and head g_v, contrasted pairwise over a view graph:

    z_v = g_v(f_v(view_v))                         for v = 1..M
    core view:  L = sum_{j>1} L(V_1, V_j)          every view against view 1
    full graph: L = sum_{i<j} L(V_i, V_j)          every pair
    L(V_i, V_j) = L^{V_i,V_j} + L^{V_j,V_i}        (``losses.cmc_loss``)

Negatives are the (global) batch's other samples (``negatives="batch"``) or, as in the paper,
``num_negatives`` entries of a per-view memory bank indexed by sample (``"bank"``, momentum 0.5). One
draw of K is shared by the step's anchors (the paper draws per anchor: the same expected loss, a [K, D]
read instead of [N, K, D]). K must stay well below the training-set size N, or an anchor's own stored
embedding turns up among its negatives (for about K/N of the anchors): K = 256 is 6% of 4000 frames, as
for MoCo's queue; K >= N is refused.

The view source gives one RGB image per sample (the paper's setting: crop + flip, no colour
augmentation) or one per channel view. ``objective="predictive"`` is the paper's cross-view prediction
baseline (Sec. 4): for every directed edge (i -> j) an MLP decoder predicts view j's channels,
average-pooled to ``target_size``, from h_i:

    L = mean over directed edges (i -> j) of || d_ij(h_i) - pool(view_j) ||^2

``standardise_targets=True`` (default off) standardises each pooled target per image and channel over its
target_size x target_size positions (zero mean, unit variance, 1e-5 added to the variance: ``F.layer_norm`` without weights), so the
decoder cannot lower the loss by predicting an image's mean colour, only its layout.

``SplitEncoder`` undoes the recipe's normalisation before the colour conversion. The probe's features
and the saved ``backbone`` are the concatenated per-view features of the first image (the paper
evaluates the concatenation of L and ab)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import gather_with_grad
from ..losses import cmc_loss, view_pairs
from ..nn import MemoryBank, SplitEncoder, mlp
from ..nn.split_encoder import BackboneFactory
from .base import MethodOutput


class CMC(nn.Module):
    needs = ("backbone_factory", "num_samples")  # see base.NEEDS
    step_inputs = ("indices", "generator")  # the memory bank: rows to update, a seeded draw of negatives
    min_crops = 1  # its views are colour-channel groups of one crop (build checks views.n_views against it)

    def __init__(self, backbone_factory: BackboneFactory, num_samples: int, channels: str = "L,ab",
                 graph: str = "full", proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.07, negatives: str = "batch", num_negatives: int = 256,
                 bank_momentum: float = 0.5, objective: str = "contrastive", target_size: int = 8,
                 standardise_targets: bool = False):
        super().__init__()
        if objective not in ("contrastive", "predictive"):
            raise ValueError(f"method.objective: {objective!r} is not 'contrastive' or 'predictive'")
        if negatives not in ("batch", "bank"):
            raise ValueError(f"negatives must be 'batch' or 'bank', got {negatives!r}")
        if negatives == "bank" and num_negatives >= num_samples:
            raise ValueError(f"num_negatives {num_negatives} must be smaller than the {num_samples} training samples")
        try:
            self.backbone = SplitEncoder(channels, backbone_factory)
        except ValueError as err:
            raise ValueError(f"method.channels {channels!r}: {err}") from err
        self.feature_dim = self.backbone.out_dim
        self.projectors = nn.ModuleList(mlp([d, proj_hidden_dim, proj_dim]) for d in self.backbone.dims)
        self.pairs = view_pairs(len(self.projectors), graph)
        self.banks = nn.ModuleList(MemoryBank(num_samples, proj_dim) for _ in self.projectors) \
            if negatives == "bank" else None
        self.temperature, self.num_negatives, self.bank_momentum = temperature, num_negatives, bank_momentum
        self.objective, self.target_size, self.standardise_targets = objective, target_size, standardise_targets
        directed = [(i, j) for a, b in self.pairs for i, j in ((a, b), (b, a))]
        self.directed = directed if objective == "predictive" else []
        channels = self.backbone.split.channels
        self.decoders = nn.ModuleList(mlp([self.backbone.dims[i], proj_hidden_dim, channels[j] * target_size ** 2])
                                      for i, j in self.directed)

    def prediction_loss(self, views: list[torch.Tensor], h: list[torch.Tensor]) -> torch.Tensor:
        parts = [self.backbone.split(x) for x in views]
        targets = [F.adaptive_avg_pool2d(parts[v if len(parts) > 1 else 0][v], self.target_size)
                   for v in range(len(h))]
        if self.standardise_targets:
            targets = [F.layer_norm(t, t.shape[-2:]) for t in targets]
        targets = [t.flatten(1) for t in targets]
        losses = [F.mse_loss(d(h[i]), targets[j].detach()) for d, (i, j) in zip(self.decoders, self.directed)]
        return sum(losses) / len(losses)

    def forward(self, views: list[torch.Tensor], indices: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> MethodOutput:
        h = self.backbone.encode(views)
        z = [g(hv) for g, hv in zip(self.projectors, h)]
        if self.objective == "predictive":
            loss = self.prediction_loss(views, h)
        elif self.banks is None:
            everyone, offset = gather_with_grad(torch.stack(z, 1))  # negatives span every DDP process
            loss = cmc_loss(z, self.pairs, self.temperature, candidates=list(everyone.unbind(1)), offset=offset)
        else:
            if indices is None or generator is None:
                raise ValueError("CMC's memory bank needs the batch's dataset indices and a generator")
            negatives = self.banks[0].sample(self.num_negatives, generator)
            memory = [(bank[indices], bank[negatives]) for bank in self.banks]
            loss = cmc_loss(z, self.pairs, self.temperature, memory)
            if self.training:
                for bank, zv in zip(self.banks, z):
                    bank.update(indices, zv, self.bank_momentum)
        if len(views) == 1:
            features = torch.cat(h, 1)
        else:
            with torch.no_grad():
                features = self.backbone(views[0])
        return MethodOutput(loss=loss, features=features, embeddings=z)
