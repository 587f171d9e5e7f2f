"""A separate encoder per channel-split view (CMC): RGB in, concatenated features out."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..colour import ChannelSplit

BackboneFactory = Callable[[int], tuple[nn.Module, int]]  # in_channels -> (module, feature dim)


class SplitEncoder(nn.Module):
    """``views`` like ``"L,ab"`` or ``"Y,Db,Dr"``: one backbone per view, made by
    ``factory(in_channels)``. ``encode(images)`` gives each view's features;
    ``forward(x)`` (the encoder a run saves) concatenates them for one normalised RGB batch."""

    def __init__(self, views, factory: BackboneFactory):
        super().__init__()
        self.split = ChannelSplit(views)
        built = [factory(c) for c in self.split.channels]
        self.encoders = nn.ModuleList(m for m, _ in built)
        self.dims = [d for _, d in built]
        self.out_dim = sum(self.dims)

    def encode(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        """Channel view v of ``images[v]`` (or of ``images[0]`` for every v) through encoder v."""
        if len(images) not in (1, len(self.encoders)):
            raise ValueError(f"{len(self.encoders)} channel views need 1 or {len(self.encoders)} images, "
                             f"got {len(images)}")
        parts = [self.split(x) for x in images]
        return [enc(parts[v if len(parts) > 1 else 0][v]) for v, enc in enumerate(self.encoders)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.encode([x]), 1)
