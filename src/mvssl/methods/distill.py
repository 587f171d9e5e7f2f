"""Distillation of a frozen teacher f_t (``method.teacher``: an mvssl run, encoder or checkpoint, or a
torchvision / timm / Hugging Face state dict of ``method.teacher_backbone``; never trained, in eval mode)
into the run's backbone f_s followed by a projector g to the teacher's dimension. For views x_1..x_V:

    L = mean over the pairs (a, b) of  1 - cos(g(f_s(x_a)), f_t(x_b))       (cosine_distillation_loss)

``pairs``: ``"cross"`` (a != b: the student predicts the teacher's feature of the *other* view, so it
learns the invariances the views share, as DINO's student does), ``"same"`` (plain mimicking) or ``"all"``."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import cosine_distillation_loss
from ..nn import mlp
from .base import MethodOutput

PAIRS = ("cross", "same", "all")


class Distill(nn.Module):
    needs = ("backbone", "teacher_network")  # see base.NEEDS
    requires_teacher = True  # no standalone recipe: a run names its teacher file (method.teacher)

    def __init__(self, backbone: nn.Module, feature_dim: int, teacher_network: tuple[nn.Module, int],
                 teacher: str = "", teacher_backbone: str = "", teacher_width: int = 16,
                 teacher_cifar_stem: bool = True, proj_hidden_dim: int = 512, pairs: str = "cross"):
        super().__init__()
        self.check_hyperparameters({"teacher": teacher, "pairs": pairs})
        self.backbone = backbone
        self.teacher, teacher_dim = teacher_network
        self.projector = mlp([feature_dim, proj_hidden_dim, teacher_dim])
        self.pairs = pairs

    @staticmethod
    def check_hyperparameters(m: dict) -> None:
        if not m.get("teacher"):
            raise ValueError("method.teacher: distill needs a teacher: an mvssl run folder, encoder.pt or checkpoint, "
                             "or a weight file with method.teacher_backbone NAME")
        if m.get("pairs", "cross") not in PAIRS:
            raise ValueError(f"method.pairs: {m['pairs']!r} is not one of {list(PAIRS)}")

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        n, v = len(views[0]), len(views)
        if len(views) > 1 and any(x.shape[-2:] != views[0].shape[-2:] for x in views):
            raise ValueError("distill takes views of one size")
        x = torch.cat(views)
        h = self.backbone(x)  # one pass: BN statistics span every view
        s = self.projector(h).chunk(v)
        t = self.teacher(x).chunk(v)
        pairs = [(a, b) for a in range(v) for b in range(v)
                 if self.pairs == "all" or (a != b) == (self.pairs == "cross")]
        if not pairs:
            raise ValueError("distill with pairs 'cross' needs two views or more")
        loss = sum(cosine_distillation_loss(s[a], t[b]) for a, b in pairs) / len(pairs)
        # the monitors see the projections less their batch mean: a teacher's pooled ReLU features share one large
        # direction, which the collapse check (spread of the normalised embeddings) would read as collapse
        return MethodOutput(loss=loss, features=h[:n], embeddings=[z - z.mean(0, keepdim=True) for z in s])
