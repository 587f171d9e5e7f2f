"""DeepCluster v2 (Caron et al. 2020, App. A, the SwAV paper's improved DeepCluster): offline clustering.
A memory holds the latest normalised projection of every sample for each of the two global crops; once
an epoch, spherical k-means on it (``losses.spherical_kmeans``) gives every sample a cluster and the
centroids become fixed prototypes. Head h clusters the memory of global crop h mod 2. Per step (batch
indices i):

    z_v = normalise(projector(f(x_v)))                           (every crop)
    at each epoch boundary: for each head h, k-means on memory[h mod 2] -> prototypes C_h,
        assignments a_h (samples not in the memory yet get none and are left out of the loss)
    loss = mean_h deepcluster_loss([z_v C_h^T], a_h[i], tau)
    memory[c][i] <- z_c for the global crops c = 0, 1            (gathered from every DDP process)

The reference fills the memory with a pass over the dataset first; here the first epoch's steps do, so
the loss is zero until the first clustering. An epoch is num_samples // global batch steps; under DDP
the memory and the k-means (seeded by the step) are the same on every process."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distributed import all_reduce_sum, gather_from_all_ranks, world_size
from ..losses import deepcluster_loss, spherical_kmeans
from ..nn import mlp
from .base import MethodOutput, encode_views, n_global_views

ASSIGNED_CROPS = 2  # global crops kept in the memory (the reference's crops_for_assign [0, 1])


class DeepClusterV2(nn.Module):
    """Paper values: projector 2048 -> 128, three heads of 3000 prototypes, temperature 0.1, 10 k-means
    iterations, prototypes never trained. Here the projector is 1024 wide with 300 prototypes per head
    (for small images and CPU budgets, as SwAV's K); the rest as in the paper."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone", "num_samples")  # see base.NEEDS
    step_inputs = ("indices",)  # which samples' memory rows the step writes

    def __init__(self, backbone: nn.Module, feature_dim: int, num_samples: int, proj_hidden_dim: int = 1024,
                 proj_dim: int = 128, n_prototypes: int = 300, n_heads: int = 3, temperature: float = 0.1,
                 kmeans_iterations: int = 10):
        super().__init__()
        if not 1 <= n_prototypes <= num_samples:
            raise ValueError(f"method.n_prototypes: must be in 1..{num_samples} (the training samples), "
                             f"got {n_prototypes}")
        if n_heads < 1 or kmeans_iterations < 1:
            raise ValueError(f"method.n_heads ({n_heads}) and method.kmeans_iterations ({kmeans_iterations}) "
                             "must be >= 1")
        self.backbone = backbone
        self.projector = mlp([feature_dim, proj_hidden_dim, proj_dim])
        self.temperature, self.kmeans_iterations, self.num_samples = temperature, kmeans_iterations, num_samples
        self.register_buffer("prototypes", F.normalize(torch.randn(n_heads, n_prototypes, proj_dim), dim=2))
        self.register_buffer("assignments", torch.full((n_heads, num_samples), -1, dtype=torch.long))
        self.register_buffer("memory", torch.zeros(ASSIGNED_CROPS, num_samples, proj_dim))
        self.register_buffer("in_memory", torch.zeros(num_samples, dtype=torch.bool))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("clustered_at", torch.full((), -1, dtype=torch.long))

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, self.num_samples // (batch_size * world_size()))

    @torch.no_grad()
    def cluster(self) -> None:
        """k-means of every head on the samples in the memory; prototypes and assignments follow."""
        step = int(self.step)
        generator = torch.Generator(device=self.memory.device).manual_seed(step)
        stored = self.in_memory.nonzero().squeeze(1)
        self.assignments.fill_(-1)
        for head in range(len(self.prototypes)):
            centroids, assigned = spherical_kmeans(self.memory[head % ASSIGNED_CROPS, stored],
                                                   self.prototypes.shape[1], self.kmeans_iterations, generator)
            self.prototypes[head] = centroids
            self.assignments[head, stored] = assigned
        self.clustered_at.fill_(step)

    def forward(self, views: list[torch.Tensor], indices: torch.Tensor | None = None) -> MethodOutput:
        n, n_global = len(views[0]), n_global_views(views)
        if n_global < ASSIGNED_CROPS:
            raise ValueError(f"DeepCluster v2 keeps {ASSIGNED_CROPS} global crops in its memory; got {n_global}")
        if indices is None and self.training:
            raise ValueError("DeepCluster v2 needs the batch's dataset indices (its memory is indexed by sample)")
        step = int(self.step)
        if self.training and step > 0 and step % self.steps_per_epoch(n) == 0 and int(self.clustered_at) != step:
            self.cluster()
        h = encode_views(self.backbone, views)
        z = F.normalize(self.projector(h), dim=1)
        crops = list(z.split(n))
        if indices is None:  # no targets without dataset indices (evaluation of the embeddings only)
            loss = z.new_tensor(float("nan"))
        else:
            indices = indices.to(z.device)
            targets = self.assignments[:, indices]
            count = all_reduce_sum((targets[0] >= 0).sum().float())  # assigned samples of the global batch
            loss = sum(deepcluster_loss([c @ prototypes.t() for c in crops], head_targets, self.temperature,
                                        count / world_size())
                       for prototypes, head_targets in zip(self.prototypes, targets)) / len(self.prototypes)
            if self.training:
                self.remember(indices, crops[:ASSIGNED_CROPS])
        return MethodOutput(loss=loss, features=h[:n], embeddings=crops,
                            logs={"assigned": (targets[0] >= 0).float().mean()} if indices is not None else {})

    @torch.no_grad()
    def remember(self, indices: torch.Tensor, crops: list[torch.Tensor]) -> None:
        everyone = gather_from_all_ranks(indices)
        for c, zc in enumerate(crops):
            self.memory[c, everyone] = gather_from_all_ranks(zc.detach().float()).to(self.memory.dtype)
        self.in_memory[everyone] = True

    def on_step_end(self, step: int, max_steps: int) -> None:
        self.step.fill_(step)
