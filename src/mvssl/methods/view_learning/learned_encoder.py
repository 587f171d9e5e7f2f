"""What a view-learning row keeps, as one backbone ``mvssl.load`` rebuilds."""
from __future__ import annotations

import torch
from torch import nn

from ...nn.critic import TwoViewCritic
from ...views.generator import ViewGenerator


class LearnedViewsEncoder(nn.Module):
    """The encoder a view-learning row keeps: its frozen generator and the CMC encoders trained
    on its views, as one backbone for ``mvssl.load`` (``Encoder.embed``). It takes RGB images
    normalised by the recipe (``mean``, ``std``, as every mvssl backbone does), undoes that, and
    returns the concatenated features of the two learned views (what the linear probe reads)."""

    def __init__(self, generator: ViewGenerator, critic: TwoViewCritic, mean, std):
        super().__init__()
        self.generator, self.critic = generator, critic
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32)[:, None, None], persistent=False)

    @classmethod
    def from_config(cls, method: dict, mean, std) -> "LearnedViewsEncoder":
        """From the ``method`` section a row's config.yaml holds (see ``experiments.view_learning``)."""
        generator = ViewGenerator(method["space"], method["layers"], method["coupling"],
                                  linear_layers=method.get("linear_layers", 0))
        critic = TwoViewCritic(num_classes=method["num_classes"], width=method["width"],
                               temperature=method["temperature"])
        return cls(generator, critic, mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic.features(self.generator.views(x.float() * self.std + self.mean))
