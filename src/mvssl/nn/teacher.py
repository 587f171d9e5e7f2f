"""A frozen teacher network for distillation: never trained, always in eval mode (its BatchNorm
statistics stay those it was trained with), and fed the student's views resized to its own input
size when that differs (bilinear, antialiased: the documented resize)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def first_conv_channels(net: nn.Module) -> int | None:
    """Input channels of the first convolution (a ViT's patch embedding too), None without one."""
    conv = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels


class FrozenTeacher(nn.Module):
    def __init__(self, net: nn.Module, image_size: int | None = None):
        super().__init__()
        self.net, self.image_size = net, image_size
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()

    def train(self, mode: bool = True) -> "FrozenTeacher":
        return super().train(False)  # the trainer's model.train() must not switch BN to batch statistics

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_size is not None and x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.net(x)
