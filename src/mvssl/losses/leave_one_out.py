"""LooC's leave-one-out contrastive loss (Xiao et al. 2021, Sec. 3.2), a pure function."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def leave_one_out_masks(n_augmentations: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive and negative masks, each bool [S, N, M * N], of query a against key (m, b) at column
    m * N + b, in every space s = 0..n (S = M = n + 1; key m is k_m). Z_0: every key of the same image is a
    positive. Z_i: only k_i of the same image is; the image's other keys (they differ from q in a_i) are
    negatives. Keys of other images are neither: MoCo's negatives come from the queue."""
    s = n_augmentations + 1
    space = torch.arange(s)[:, None]
    key = torch.arange(s)[None, :]
    positive_key = (space == 0) | (key == space)  # [S, M]
    same_image = torch.eye(batch_size, dtype=torch.bool)  # [N(query), N(key image)]
    positive = positive_key[:, None, :, None] & same_image[None, :, None, :]  # [S, N, M, N]
    negative = ~positive_key[:, None, :, None] & same_image[None, :, None, :]
    return positive.reshape(s, batch_size, s * batch_size), negative.reshape(s, batch_size, s * batch_size)


def leave_one_out_loss(queries: torch.Tensor, keys: torch.Tensor, queues: torch.Tensor,
                       temperature: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """LooC's loss: InfoNCE in every embedding space with that space's positives and negatives.

    Shapes: ``queries`` [S, N, D] (q of each image embedded by head s), ``keys`` [S, M, N, D]
    (key k_m of each image embedded by key head s; M = S = n + 1), ``queues`` [S, K, D].
    With cosine similarities s(u, v) = u.v / (|u| |v|), P_s(a) and N_s(a) the positive and
    negative keys of query a in space s (``leave_one_out_masks``) and Q_s space s's queue:

        l_s(a, p) = -log( exp(s(q_a, p)/tau) /
                          ( exp(s(q_a, p)/tau) + sum_{k in N_s(a)} exp(s(q_a, k)/tau)
                                               + sum_{n in Q_s} exp(s(q_a, n)/tau) ) )
        L_s = mean over a and p in P_s(a) of l_s(a, p)
        L = (1 / S) sum_s L_s

    (each positive of Z_0 is its own InfoNCE term, the other positives left out of its
    denominator, as MoCo with several keys). Returns ``(L, [L_0, ..., L_n])``.
    """
    s, n, _ = queries.shape
    if keys.shape[:3] != (s, s, n) or queues.shape[0] != s:
        raise ValueError(f"expected keys [S={s}, M={s}, N={n}, D] and queues [S={s}, K, D]; got "
                         f"{tuple(keys.shape)} and {tuple(queues.shape)}")
    positive, negative = leave_one_out_masks(s - 1, n)
    positive, negative = positive.to(queries.device), negative.to(queries.device)
    q = F.normalize(queries.float(), dim=-1)
    k = F.normalize(keys.float(), dim=-1).reshape(s, s * n, -1)
    queue = F.normalize(queues.float(), dim=-1)
    key_logits = torch.einsum("snd,smd->snm", q, k) / temperature  # [S, N, M * N]
    queue_logits = torch.einsum("snd,skd->snk", q, queue) / temperature  # [S, N, K]
    negatives = torch.cat([key_logits.masked_fill(~negative, float("-inf")), queue_logits], -1)
    negative_lse = torch.logsumexp(negatives, -1, keepdim=True)  # log of the negatives' share of the denominator
    terms = torch.logaddexp(key_logits, negative_lse) - key_logits  # l_s(a, p) for every key column
    per_space = (terms * positive).sum((1, 2)) / positive.sum((1, 2))
    return per_space.mean(), per_space
