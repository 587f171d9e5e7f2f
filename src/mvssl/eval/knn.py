"""Weighted cosine k-nearest-neighbour classification (Wu et al. 2018; DINO's defaults
k = 20, T = 0.07): each of the k most similar training features votes for its label
with weight exp(cos / T). Test features go through in chunks of ``chunk_size``, so the
similarity matrix in memory is at most chunk_size x N_train, on ``device`` (GPU or CPU)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .options import KNN_CHUNK, KNN_K, KNN_TEMPERATURE  # noqa: F401 - defaults shown by mvssl eval


@torch.no_grad()
def knn_classify(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, k: int = KNN_K,
                 temperature: float = KNN_TEMPERATURE, chunk_size: int = KNN_CHUNK,
                 device: str | torch.device = "cpu") -> torch.Tensor:
    """Predicted labels (on the CPU) for ``test_x``."""
    train = F.normalize(train_x.float().to(device), dim=1)
    train_y = train_y.long().to(device)
    num_classes = int(train_y.max()) + 1
    k = min(k, len(train))
    preds = []
    for i in range(0, len(test_x), chunk_size):
        sim = F.normalize(test_x[i:i + chunk_size].float().to(device), dim=1) @ train.t()
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(len(sim), num_classes, device=sim.device)
        votes.scatter_add_(1, train_y[top_idx], weights)
        preds.append(votes.argmax(1).cpu())
    return torch.cat(preds)


def knn_accuracy(train_x, train_y, test_x, test_y, k: int = KNN_K, temperature: float = KNN_TEMPERATURE,
                 chunk_size: int = KNN_CHUNK, device: str | torch.device = "cpu") -> float:
    pred = knn_classify(train_x, train_y, test_x, k, temperature, chunk_size, device)
    return float((pred == test_y.cpu().long()).float().mean())
