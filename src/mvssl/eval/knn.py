"""Weighted cosine k-nearest-neighbour classification (Wu et al. 2018; DINO's defaults
k = 20, T = 0.07): each of the k most similar training features votes for its label
with weight exp(cos / T). Test features are processed in chunks so memory stays
bounded by chunk_size x N_train."""
from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_classify(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, k: int = 20,
                 temperature: float = 0.07, chunk_size: int = 1024) -> torch.Tensor:
    """Predicted labels for ``test_x``."""
    train = F.normalize(train_x.float(), dim=1)
    test = F.normalize(test_x.float(), dim=1)
    train_y = train_y.long()
    num_classes = int(train_y.max()) + 1
    k = min(k, len(train))
    preds = []
    for i in range(0, len(test), chunk_size):
        sim = test[i:i + chunk_size] @ train.t()
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(len(sim), num_classes, device=sim.device)
        votes.scatter_add_(1, train_y[top_idx], weights)
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_accuracy(train_x, train_y, test_x, test_y, k: int = 20, temperature: float = 0.07) -> float:
    pred = knn_classify(train_x, train_y, test_x, k, temperature)
    return float((pred.cpu() == test_y.cpu().long()).float().mean())
