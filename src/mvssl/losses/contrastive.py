"""Contrastive losses (pure functions)."""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, rows: slice | None = None) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy over 2N anchors.

    With u = z / ||z|| for the 2N projections and s_ij = u_i . u_j / tau, anchor i with
    positive p(i) (its other view) has loss

        l_i = -log( exp(s_{i,p(i)}) / sum_{k != i} exp(s_{i,k}) )

    and the result is the mean of l_i over all 2N anchors (Chen et al. 2020, Alg. 1).
    With ``rows``, only the anchors of those rows (in both views) are averaged, against
    all 2N candidates: under DDP a process passes the gathered global batch and its own
    rows, so the negatives span every process and the anchors are split between them.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be [N, D], got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    own = torch.arange(n, device=z.device)[rows if rows is not None else slice(None)]
    anchors = torch.cat([own, own + n])  # rows of z that are anchors here
    sim = z[anchors] @ z.t() / temperature
    sim[torch.arange(len(anchors), device=z.device), anchors] = float("-inf")  # not its own negative
    positive = torch.cat([own + n, own])
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


def cross_view_nce(anchors: torch.Tensor, candidates: torch.Tensor, temperature: float = 0.07,
                   offset: int = 0) -> torch.Tensor:
    """CMC's one-sided contrastive loss L^{V1,V2} with in-batch negatives: anchor i of view 1
    must pick its own view-2 embedding out of the N view-2 embeddings of the batch,

        L = -mean_i log( exp(u_i . v_i / tau) / sum_j exp(u_i . v_j / tau) )

    with u = anchors / ||anchors||, v = candidates / ||candidates|| (Tian et al. 2019, Eq. 2).
    Unlike NT-Xent, negatives come from the other view only. ``candidates`` may hold more
    rows than ``anchors`` (under DDP: the gathered global batch); anchor i's own embedding
    is then ``candidates[offset + i]``.
    """
    u = F.normalize(anchors.float(), dim=1)
    v = F.normalize(candidates.float(), dim=1)
    return F.cross_entropy(u @ v.t() / temperature, torch.arange(offset, offset + len(u), device=u.device))


def view_pairs(n_views: int, graph: str) -> list[tuple[int, int]]:
    """CMC's view graphs over views 0..M-1: ``"core"`` pairs every view with view 0 (M - 1
    pairs); ``"full"`` takes every pair (M(M - 1)/2)."""
    if n_views < 2:
        raise ValueError(f"contrasting views needs at least 2, got {n_views}")
    if graph == "core":
        return [(0, j) for j in range(1, n_views)]
    if graph == "full":
        return list(itertools.combinations(range(n_views), 2))
    raise ValueError(f"unknown view graph {graph!r}; choose 'core' or 'full'")


def cmc_loss(z: list[torch.Tensor], pairs: list[tuple[int, int]], temperature: float = 0.07,
             memory: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
             candidates: list[torch.Tensor] | None = None, offset: int = 0) -> torch.Tensor:
    """CMC's multi-view loss: the two-sided loss summed over the pairs of a view graph,

        L = sum_{(i, j) in pairs} ( L^{V_i, V_j} + L^{V_j, V_i} )

    (Tian et al. 2019, Eq. 3 with ``view_pairs(M, "core")`` = Eq. 5, with ``"full"`` = Eq. 6).
    Without ``memory``, L^{V_i, V_j} is ``cross_view_nce(z[i], z[j])`` (in-batch negatives).
    With a memory bank, ``memory[j] = (positives [N, D], negatives [K, D] or [N, K, D])`` are
    view j's stored embeddings of the batch's samples and of K sampled ones (shared by all
    anchors, or drawn per anchor), and L^{V_i, V_j} is
    ``info_nce(z[i], *memory[j])``: the anchor of view i scores its own sample among K + 1.
    ``candidates`` (default ``z``) are the in-batch embeddings each view is contrasted with,
    under DDP gathered from every process, with this process's rows from ``offset``.
    """
    candidates = z if candidates is None else candidates

    def one_sided(i: int, j: int) -> torch.Tensor:
        if memory is None:
            return cross_view_nce(z[i], candidates[j], temperature, offset)
        return info_nce(z[i], *memory[j], temperature)

    return sum(one_sided(i, j) + one_sided(j, i) for i, j in pairs)


def mocov3_loss(q1: torch.Tensor, q2: torch.Tensor, k1: torch.Tensor, k2: torch.Tensor, temperature: float = 1.0,
                offset: int = 0) -> torch.Tensor:
    """MoCo v3's symmetrised InfoNCE on in-batch keys (Chen, Xie & He 2021, Alg. 1), no queue:

        ctr(q, k) = 2 tau * ( -1/N sum_i log( exp(u_i . v_i / tau) / sum_j exp(u_i . v_j / tau) ) )
        L = ctr(q1, k2) + ctr(q2, k1)

    with u, v the L2-normalised queries and keys (``cross_view_nce``). ``q1``, ``q2`` [N, D] are
    the predictions of views 1 and 2; ``k1``, ``k2`` the momentum encoder's keys, which may hold
    the global batch under DDP (this process's rows from ``offset``). The 2 tau factor is the
    official code's; the keys should carry no gradient."""
    return 2 * temperature * (cross_view_nce(q1, k2, temperature, offset) + cross_view_nce(q2, k1, temperature, offset))


def nearest_neighbours(z: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """For each row of ``z`` [N, D], the row of ``support`` [M, D] with the largest cosine
    similarity to it (NNCLR's NN(z, Q)), as stored in ``support``. No gradient flows to ``z``."""
    u, s = F.normalize(z.detach().float(), dim=1), F.normalize(support.float(), dim=1)
    return support[(u @ s.t()).argmax(1)]


def nnclr_loss(z1: torch.Tensor, z2: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, support: torch.Tensor,
               temperature: float = 0.1, offset: int = 0) -> torch.Tensor:
    """NNCLR (Dwibedi et al. 2021, Eq. 2, symmetrised): each view's projection is replaced by
    its nearest neighbour in the support set, which must pick the other view's prediction of
    the same image out of the batch's predictions:

        L = 1/2 ( cross_view_nce(NN(z1, Q), p2) + cross_view_nce(NN(z2, Q), p1) )

    ``z1``, ``z2`` [N, D] are this process's projections, ``support`` [M, D] the support set Q,
    ``p1``, ``p2`` the predictions, which may hold the global batch under DDP (this process's
    rows from ``offset``). The neighbours carry no gradient; the predictions do."""
    nn1, nn2 = nearest_neighbours(z1, support), nearest_neighbours(z2, support)
    return (cross_view_nce(nn1, p2, temperature, offset) + cross_view_nce(nn2, p1, temperature, offset)) / 2
