"""The two-view critic of every I_NCE estimate: one encoder per view, a projection head each
and, where labels take part (view learning), a linear classifier each on the features. Its
InfoNCE loss is CMC's two-sided in-batch loss averaged over the two directions
(``losses.cmc_loss`` / 2), so on a batch of N pairs I_NCE = log N - L_NCE. ``fit_critic`` is
the one loop that trains a critic on frozen views."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import cmc_loss
from .backbones import build_backbone
from .heads import mlp

HEADS = ("mlp", "linear")


class TwoViewCritic(nn.Module):
    """f1, f2 (one backbone per view, ``channels`` input channels each), projection heads to ``proj_dim``
    (``"mlp"``: Linear - BN - ReLU - Linear through twice the feature width; ``"linear"``), and with
    ``num_classes`` > 0 linear classifiers c1, c2 on the features. ``features`` (concatenated, as CMC
    evaluates) is what a linear probe reads. Parameters are drawn in each critic's historical order, so a
    seed gives the weights it always gave."""

    def __init__(self, num_classes: int = 0, backbone: str = "convnet", width: int = 16, proj_dim: int = 64,
                 temperature: float = 0.1, channels: tuple[int, int] = (1, 2), head: str = "mlp"):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown critic head {head!r}; choose from {list(HEADS)}")
        if head == "mlp":
            built = [build_backbone(backbone, width, in_channels=c) for c in channels]
            heads = [mlp([d, 2 * d, proj_dim]) for _, d in built]
        else:
            built, heads = [], []
            for c in channels:
                built.append(build_backbone(backbone, width, in_channels=c))
                heads.append(nn.Linear(built[-1][1], proj_dim))
        self.encoders = nn.ModuleList(m for m, _ in built)
        self.heads = nn.ModuleList(heads)
        self.classifiers = nn.ModuleList(nn.Linear(d, num_classes) for _, d in built) if num_classes else nn.ModuleList()
        self.temperature = temperature

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        return [f(v) for f, v in zip(self.encoders, views)]

    def nce_loss(self, h: list[torch.Tensor]) -> torch.Tensor:
        z = [head(hv) for head, hv in zip(self.heads, h)]
        return cmc_loss(z, [(0, 1)], self.temperature) / 2

    def ce_loss(self, h: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return sum(F.cross_entropy(c(hv), labels) for c, hv in zip(self.classifiers, h))

    def features(self, views: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(self.encode(views), 1)


def fit_critic(critic: TwoViewCritic, next_views: Callable[[int], list[torch.Tensor]], steps: int,
               optimizer: torch.optim.Optimizer) -> None:
    """``steps`` steps of ``optimizer`` on the critic's InfoNCE loss, on the view pairs
    ``next_views(step)`` hands out (frozen: no gradient reaches what made them)."""
    critic.train()
    for step in range(steps):
        loss = critic.nce_loss(critic.encode(next_views(step)))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the critic's InfoNCE loss is not finite at step {step}: {float(loss)}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
