"""Contrastive losses (pure functions)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy over 2N anchors.

    With u = z / ||z|| for the 2N projections and s_ij = u_i . u_j / tau, anchor i with
    positive p(i) (its other view) has loss

        l_i = -log( exp(s_{i,p(i)}) / sum_{k != i} exp(s_{i,k}) )

    and the result is the mean of l_i over all 2N anchors (Chen et al. 2020, Alg. 1).
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be [N, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, positive)


def info_nce(query: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor,
             temperature: float = 0.07) -> torch.Tensor:
    """InfoNCE (van den Oord et al. 2018; MoCo's form) with cosine similarity:

        L = -mean_i log( exp(q_i.k_i+ / tau) / (exp(q_i.k_i+ / tau) + sum_j exp(q_i.n_j / tau)) )

    ``query`` and ``positive`` are [N, D]; ``negatives`` is [K, D] (shared by every
    query, e.g. a queue) or [N, K, D] (per query). With K negatives,
    log(K + 1) - L is the I_NCE lower bound on the views' mutual information.
    """
    q = F.normalize(query.float(), dim=-1)
    k = F.normalize(positive.float(), dim=-1)
    neg = F.normalize(negatives.float(), dim=-1)
    pos_logit = (q * k).sum(-1, keepdim=True)
    neg_logits = q @ neg.t() if neg.ndim == 2 else torch.einsum("nd,nkd->nk", q, neg)
    logits = torch.cat([pos_logit, neg_logits], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
