"""N-way K-shot episodes on frozen features, classified by cosine prototypes (Snell et al. 2017): the mean
episode accuracy with a 95% interval, 1.96 * std / sqrt(episodes), every episode drawn from one seeded
``torch.Generator`` (protocol: docs/evaluation.md)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .options import EPISODES, QUERIES, WAYS


def sample_episodes(labels: torch.Tensor, n_way: int, k_shot: int, n_query: int, episodes: int,
                    generator: torch.Generator) -> torch.Tensor:
    """Item indices [episodes, n_way, k_shot + n_query]: the first ``k_shot`` of each row are the support."""
    labels = labels.long().cpu()
    per = k_shot + n_query
    classes, counts = labels.unique(return_counts=True)
    eligible = classes[counts >= per]
    if len(eligible) < n_way:
        raise ValueError(f"{n_way}-way {k_shot}-shot episodes with {n_query} queries need {n_way} classes "
                         f"with >= {per} test items ({k_shot} shots + {n_query} queries); only {len(eligible)} of "
                         f"{len(classes)} have that many (the smallest has {int(counts.min())}): lower --queries (or "
                         f"--ways, --shots)")
    order = torch.argsort(labels, stable=True)  # items grouped by class
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.searchsorted(classes, eligible)
    chosen = torch.rand(episodes, len(eligible), generator=generator).argsort(1)[:, :n_way]  # [E, N]
    chosen = slot[chosen]
    width = int(counts[slot].max())
    keys = torch.rand(episodes, n_way, width, generator=generator)
    keys.masked_fill_(torch.arange(width) >= counts[chosen][..., None], float("inf"))  # pad past each class's count
    picks = keys.argsort(-1)[..., :per]  # distinct positions within the class
    return order[starts[chosen][..., None] + picks]


@torch.no_grad()
def prototype_accuracy(features: torch.Tensor, episodes: torch.Tensor, k_shot: int) -> torch.Tensor:
    """Accuracy of each episode [E] of indices [E, N, K + Q] under cosine prototypes."""
    x = F.normalize(features.float(), dim=1)[episodes]  # [E, N, K+Q, D]
    prototypes = F.normalize(x[:, :, :k_shot].mean(2), dim=-1)  # [E, N, D]
    queries = x[:, :, k_shot:]  # [E, N, Q, D]
    pred = torch.einsum("enqd,ecd->enqc", queries, prototypes).argmax(-1)
    truth = torch.arange(episodes.shape[1])[None, :, None]
    return (pred == truth).float().mean((1, 2))


def fewshot_eval(features: torch.Tensor, labels: torch.Tensor, n_way: int = WAYS, k_shot: int = 1,
                 n_query: int = QUERIES, episodes: int = EPISODES, seed: int = 0,
                 chunk: int = 100) -> dict:
    """Mean accuracy and 95% interval over ``episodes`` N-way K-shot episodes."""
    g = torch.Generator().manual_seed(seed)
    index = sample_episodes(labels, n_way, k_shot, n_query, episodes, g)
    acc = torch.cat([prototype_accuracy(features.cpu(), index[i:i + chunk], k_shot)
                     for i in range(0, episodes, chunk)])
    std = float(acc.std()) if episodes > 1 else 0.0
    return {"ways": n_way, "shots": k_shot, "queries": n_query, "episodes": episodes, "seed": seed,
            "accuracy": float(acc.mean()), "ci95": 1.96 * std / math.sqrt(episodes)}
