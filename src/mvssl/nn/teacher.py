"""A frozen teacher network for distillation: never trained, always in eval mode (its BatchNorm
statistics stay those it was trained with), and fed the student's views resized to its own input
size when that differs (bilinear, antialiased: the documented resize). Its weights are left out
of the state dict of any module that holds it (a distillation run's checkpoints), since they
are rebuilt from the teacher's own file; ``digest`` tells whether they are the same ones."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint_io import content_digest


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
        self.register_state_dict_post_hook(_leave_out_weights)

    def digest(self) -> str:
        """SHA-256 of the teacher's weights (``checkpoint_io.content_digest``)."""
        return content_digest(self.net.state_dict())

    def _load_from_state_dict(self, state_dict, prefix, *args) -> None:
        if prefix:  # a holder's state without the teacher's weights: keep those rebuilt from its file
            for key, value in self.net.state_dict().items():
                state_dict.setdefault(f"{prefix}net.{key}", value)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def train(self, mode: bool = True) -> "FrozenTeacher":
        return super().train(False)  # the trainer's model.train() must not switch BN to batch statistics

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_size is not None and x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.net(x)


def _leave_out_weights(module: FrozenTeacher, state_dict: dict, prefix: str, local_metadata) -> None:
    if prefix:  # the teacher's own state_dict() keeps them; a holder's does not
        for key in [k for k in state_dict if k.startswith(f"{prefix}net.")]:
            del state_dict[key]
