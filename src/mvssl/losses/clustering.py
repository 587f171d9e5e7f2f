"""Clustering losses (pure functions): Sinkhorn-Knopp codes and SwAV's swapped prediction."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..distributed import all_reduce_max, all_reduce_sum


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Codes by the Sinkhorn-Knopp algorithm (SwAV, Caron et al. 2020, Eq. 3-4 and Alg. 1; Cuturi 2013) from
    ``scores`` [B, K], the similarity of B samples to K prototypes: the solution of
    max_Q Tr(Q^T C^T Z) + epsilon H(Q) over the transportation polytope (mass 1/B per sample, 1/K per
    prototype). Q = exp(scores / epsilon), normalised to total mass 1; each of ``iterations`` rounds scales
    the columns to 1/K, then the rows to 1/B; times B, every row of the codes sums to exactly 1 and every
    column to B/K up to what the rounds leave (equal partition of the batch). Under DDP the sums run over
    every process (B is the global batch). No gradient flows through the codes."""
    q = scores.detach().float() / epsilon
    q = torch.exp(q - all_reduce_max(q.max().clone()))  # a common shift cancels in the normalisations
    batch = q.new_tensor(float(len(q)))
    all_reduce_sum(batch)
    n_prototypes = q.shape[1]
    q /= all_reduce_sum(q.sum())
    for _ in range(iterations):
        q /= all_reduce_sum(q.sum(0, keepdim=True)) * n_prototypes
        q /= q.sum(1, keepdim=True) * batch
    return q * batch


def swav_loss(scores: list[torch.Tensor], codes: list[torch.Tensor], temperature: float = 0.1) -> torch.Tensor:
    """SwAV's swapped prediction (Caron et al. 2020, Eq. 1-2 and multi-crop, Sec. 3.2):

        p_v = softmax(z_v^T C / tau),   l(z_v, q_t) = -mean_i sum_k q_t,ik log p_v,ik
        L = mean over pairs (t, v), v != t, of l(z_v, q_t)

    ``scores`` holds z_v^T C [N, K] for every crop (crops that get codes first, in the
    same order as ``codes``); ``codes`` holds the Sinkhorn codes q_t [N, K] of the crops
    that are assigned (the large ones), which get no gradient. Each code is predicted
    from every other crop, never from its own.
    """
    log_probs = [F.log_softmax(s.float() / temperature, dim=-1) for s in scores]
    terms = [-(q.detach() * log_probs[v]).sum(-1).mean()
             for t, q in enumerate(codes) for v in range(len(log_probs)) if v != t]
    if not terms:
        raise ValueError("SwAV needs at least two crops: one assigned crop and one crop that predicts its code")
    return sum(terms) / len(terms)


@torch.no_grad()
def spherical_kmeans(x: torch.Tensor, k: int, iterations: int = 10,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means on the unit sphere, as DeepCluster v2 clusters its memory (Caron et al. 2020,
    App. A): the rows of ``x`` [N, D] are L2-normalised; the k centroids start at k distinct
    rows drawn with ``generator``; each of ``iterations`` rounds assigns every row to the
    centroid with the largest dot product, then moves every centroid that has members to
    their mean, L2-normalised (one without members stays where it was); a last assignment
    follows. Returns (centroids [k, D], assignments [N] in 0..k-1)."""
    if len(x) < k:
        raise ValueError(f"k-means with {k} clusters needs at least {k} embeddings, got {len(x)}: "
                         "lower method.n_prototypes")
    x = F.normalize(x.float(), dim=1)
    device = generator.device if generator is not None else x.device
    centroids = x[torch.randperm(len(x), generator=generator, device=device).to(x.device)[:k]].clone()
    for _ in range(iterations):
        assignments = (x @ centroids.t()).argmax(1)
        sums = torch.zeros_like(centroids).index_add_(0, assignments, x)
        counts = torch.bincount(assignments, minlength=k)
        members = counts > 0
        centroids[members] = F.normalize(sums[members] / counts[members, None], dim=1)
    return centroids, (x @ centroids.t()).argmax(1)


def deepcluster_loss(scores: list[torch.Tensor], assignments: torch.Tensor, temperature: float = 0.1,
                     denominator: torch.Tensor | float | None = None) -> torch.Tensor:
    """DeepCluster v2's loss for one clustering (Caron et al. 2020, App. A): every crop's
    scores z_v^T c_k against the prototypes (the k-means centroids) predict the sample's
    cluster,

        L = 1/(V n) sum_v sum_{i assigned} -log softmax(z_v,i^T C / tau)_{a_i}

    ``scores`` holds one [N, K] tensor per crop, ``assignments`` [N] the clusters (negative:
    not assigned yet, left out), n the number of assigned samples (``denominator`` overrides
    it, e.g. the global count under DDP divided by the number of processes). With no
    assigned sample the loss is 0 (and still depends on the scores, so every parameter
    gets a gradient)."""
    valid = assignments >= 0
    targets = assignments.clamp_min(0)
    total = sum((F.cross_entropy(s.float() / temperature, targets, reduction="none") * valid).sum() for s in scores)
    n = valid.sum() if denominator is None else denominator
    return total / (len(scores) * torch.as_tensor(n, dtype=torch.float32, device=valid.device).clamp_min(1))
