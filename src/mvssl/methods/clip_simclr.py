"""SimCLR between a clip and a frame: InfoMin's sequence setting (Tian et al. 2020, Fig. 4: v1 = x_{1:k},
v2 shares factors with the next frame x_{k+1}). One frame encoder f reads every frame; the clip's k
features, concatenated in time order, go through an MLP clip head g_1 (so it can read the motion and
predict where the digit moves next), the single frame's through a frame head g_2:

    h_t = f(x_t),  z_1 = g_1([h_1; ...; h_k]),  z_2 = g_2(f(v2)),  L = NT-Xent(z_1, z_2)

The saved encoder is f, a single-frame encoder, so the Table 1 probes read it unchanged; the online
probe reads f(v2). ``frames`` is ``views.frames``. Projections are gathered under DDP, as in SimCLR."""
from __future__ import annotations

import torch
from torch import nn

from ..distributed import gather_with_grad
from ..losses import nt_xent
from ..nn import mlp
from .base import MethodOutput


class ClipSimCLR(nn.Module):
    needs = ("backbone", "frames")  # see base.NEEDS
    own_views = ("clip", "a clip of frames against one frame")  # its recipe; only it takes it (build checks)

    def __init__(self, backbone: nn.Module, feature_dim: int, frames: int, proj_hidden_dim: int = 2048,
                 proj_dim: int = 128, temperature: float = 0.5):
        super().__init__()
        if frames < 1:
            raise ValueError(f"views.frames: a clip needs at least one frame, got {frames}")
        self.backbone, self.frames, self.temperature = backbone, frames, temperature
        self.clip_head = mlp([frames * feature_dim, proj_hidden_dim, proj_dim])
        self.frame_head = mlp([feature_dim, proj_hidden_dim, proj_dim])

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        if len(views) != 2:
            raise ValueError(f"clip-simclr takes two views (a clip and a frame), got {len(views)}")
        clip, frame = views
        n, k = len(frame), self.frames
        if clip.shape[1] != k * frame.shape[1]:
            raise ValueError(f"clip view has {clip.shape[1]} channels; {k} frames of {frame.shape[1]} expected")
        frames = clip.reshape(n, k, *frame.shape[1:]).transpose(0, 1).reshape(n * k, *frame.shape[1:])
        h = self.backbone(torch.cat([frames, frame]))  # one pass: BN statistics over clip frames and frames
        h_clip = h[:n * k].reshape(k, n, -1).transpose(0, 1).reshape(n, -1)  # [n, k * D], time order
        h_frame = h[n * k:]
        z = [self.clip_head(h_clip), self.frame_head(h_frame)]
        everyone, offset = gather_with_grad(torch.stack(z, 1))
        rows, zg = slice(offset, offset + n), everyone.unbind(1)
        loss = nt_xent(zg[0], zg[1], self.temperature, rows)
        return MethodOutput(loss=loss, features=h_frame, embeddings=z)
