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
