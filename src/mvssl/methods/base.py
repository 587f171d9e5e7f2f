"""What every method returns, and the hooks the trainer calls."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class MethodOutput:
    loss: torch.Tensor
    features: torch.Tensor  # backbone features of the first view (the online probe reads them)
    embeddings: list[torch.Tensor] = field(default_factory=list)  # per-view projections (monitors read them)
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


def n_global_views(views: list[torch.Tensor]) -> int:
    """How many views are global (large) crops: the leading views with the size of
    ``views[0]``. Multi-crop recipes put the global crops first and make local crops
    smaller; with views all of one size (pairs), every view is global. Methods that take
    such views set the class attribute ``accepts_multicrop = True`` (config checks it)."""
    size = views[0].shape[-2:]
    n = 1
    while n < len(views) and views[n].shape[-2:] == size:
        n += 1
    return n


def encode_views(network: torch.nn.Module, views: list[torch.Tensor]) -> torch.Tensor:
    """``network`` applied to every view, with one forward pass per run of consecutive
    same-size views (multi-crop: one pass for the global crops, one for the local ones;
    BN statistics span each run). Returns the outputs of all views concatenated in order."""
    outputs, start = [], 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape[-2:] == views[start].shape[-2:]:
            end += 1
        outputs.append(network(torch.cat(views[start:end])))
        start = end
    return torch.cat(outputs)


def encode_pair(backbone: torch.nn.Module, head: torch.nn.Module, views: list[torch.Tensor], method: str
                ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """((h1, h2), (z1, z2)) of exactly two views, h = backbone(x), z = head(h), each view in
    its own forward pass (BN statistics per view, as the reference code of Barlow Twins,
    VICReg, MoCo v3, NNCLR, BYOL and SimSiam computes them)."""
    if len(views) != 2:
        raise ValueError(f"{method} takes two views; got {len(views)}")
    h = [backbone(v) for v in views]
    return (h[0], h[1]), (head(h[0]), head(h[1]))
