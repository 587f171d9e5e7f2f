"""DINO (Caron et al. 2021): self-distillation with no labels. A student (backbone +
DINO head) sees every crop and matches, crop for crop, the sharpened and centred output
distribution of a teacher that sees only the global crops; the teacher is an EMA of the
student, and centring (subtracting an EMA of the teacher's mean output) with sharpening
(a low teacher temperature) keeps the pair from collapsing."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import dino_loss
from ..losses.er import cross_entropy_reconstruction, marginal_entropy
from ..nn import Centre, DINOHead, cosine_momentum, cosine_schedule, ema_update, frozen_copy
from .base import MethodOutput, at_least, encode_views, n_global_views


class DINO(nn.Module):
    """Paper values (Alg. 1, App. C): head 2048-2048 -> bottleneck 256 -> K = 65536 with the last layer's norm
    fixed, student temperature 0.1, teacher temperature 0.04 -> 0.07 over 30 epochs, centre momentum 0.9,
    teacher momentum 0.996 -> 1 (cosine). Here, for small images and CPU budgets: head 1024 hidden, K = 256,
    warm-up in steps, BN in the head (``use_bn_in_head``, off for ViTs: a small ConvNet's pooled features all
    point almost one way, so without BN the teacher's centred outputs are nearly constant), the last layer's
    norm learnable, teacher temperature 0.02 -> 0.04 and momentum 0.99 -> 1: with the paper's temperatures
    and a fixed norm the teacher's targets went uniform here (loss at log K; docs/methods.md).

    The official ``main_dino.py``'s three stabilisers run between backward and the optimiser step
    (``before_optimizer_step``), with the paper's values: per-tensor gradient clipping to ``clip_grad`` 3.0
    (0: off); the last layer's gradients dropped for ``freeze_last_layer_steps`` (the official first epoch:
    31 steps of 4000 frames at batch 128); and the decayed groups' weight decay on a cosine from
    ``weight_decay_start`` 0.04 to ``weight_decay_end`` 0.4, replacing ``optim.weight_decay`` (the online
    probe shares the groups and so the schedule). Global views: the leading views of ``views[0]``'s size."""

    accepts_multicrop = True  # views of two sizes: global crops first (see n_global_views)

    needs = ("backbone",)  # see base.NEEDS

    def __init__(self, backbone: nn.Module, feature_dim: int, head_hidden_dim: int = 1024,
                 bottleneck_dim: int = 256, out_dim: int = 256, norm_last_layer: bool = False,
                 head_batch_norm: bool = True,
                 student_temperature: float = 0.1, warmup_teacher_temperature: float = 0.02,
                 teacher_temperature: float = 0.04, teacher_temperature_warmup_steps: int = 100,
                 centre_momentum: float = 0.9, base_momentum: float = 0.99, clip_grad: float = 3.0,
                 freeze_last_layer_steps: int = 31, weight_decay_start: float = 0.04, weight_decay_end: float = 0.4):
        super().__init__()
        at_least(0, clip_grad=clip_grad, freeze_last_layer_steps=freeze_last_layer_steps,
                 weight_decay_start=weight_decay_start, weight_decay_end=weight_decay_end)
        self.clip_grad, self.freeze_last_layer_steps = clip_grad, freeze_last_layer_steps
        self.weight_decay_start, self.weight_decay_end = weight_decay_start, weight_decay_end
        self.backbone = backbone
        self.head = DINOHead(feature_dim, out_dim, head_hidden_dim, bottleneck_dim, norm_last_layer, head_batch_norm)
        self.teacher_backbone, self.teacher_head = frozen_copy(backbone), frozen_copy(self.head)
        self.centre = Centre(out_dim, centre_momentum)
        self.student_temperature = student_temperature
        self.warmup_teacher_temperature, self.teacher_temperature = warmup_teacher_temperature, teacher_temperature
        self.teacher_temperature_warmup_steps, self.base_momentum = teacher_temperature_warmup_steps, base_momentum
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def current_teacher_temperature(self) -> float:
        """Linear warm-up from ``warmup_teacher_temperature`` to ``teacher_temperature``, then constant."""
        if int(self.step) >= self.teacher_temperature_warmup_steps:
            return self.teacher_temperature
        fraction = int(self.step) / self.teacher_temperature_warmup_steps
        return self.warmup_teacher_temperature + fraction * (self.teacher_temperature - self.warmup_teacher_temperature)

    def forward(self, views: list[torch.Tensor]) -> MethodOutput:
        n, n_global = len(views[0]), n_global_views(views)
        h = encode_views(self.backbone, views)
        student = self.head(h).split(n)
        with torch.no_grad():
            teacher = self.teacher_head(encode_views(self.teacher_backbone, views[:n_global]))
        teacher_temperature = self.current_teacher_temperature()
        loss = dino_loss(list(student), list(teacher.split(n)), self.centre.value, self.student_temperature,
                         teacher_temperature)
        logs = self.target_logs(teacher, teacher_temperature, student)  # before the centre moves
        if self.training:
            self.centre.update(teacher)
        return MethodOutput(loss=loss, features=h[:n], embeddings=list(student),
                            logs={"teacher_temperature": torch.tensor(teacher_temperature, device=h.device), **logs})

    @torch.no_grad()
    def target_logs(self, teacher: torch.Tensor, teacher_temperature: float, student: tuple[torch.Tensor, ...]) -> dict:
        """The monitors of the teacher's centred, sharpened targets: their mean entropy (log K when
        they have gone uniform: collapse) and ER's measures of them (``target_er_measures``)."""
        targets = torch.softmax((teacher.float() - self.centre.value) / teacher_temperature, dim=-1)
        return {"teacher_entropy": -(targets * targets.clamp_min(1e-12).log()).sum(-1).mean(),
                **target_er_measures(targets.split(len(student[0])), student, self.student_temperature)}

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer, step: int, max_steps: int) -> None:
        """After backward, before the update of step ``step`` (0-based): clip every student
        gradient, drop the last layer's while it is frozen, set the scheduled weight decay."""
        if self.clip_grad > 0:
            for p in [*self.backbone.parameters(), *self.head.parameters()]:
                if p.grad is not None:
                    p.grad.mul_(torch.clamp(self.clip_grad / (p.grad.norm() + 1e-6), max=1.0))
        if step < self.freeze_last_layer_steps:
            self.head.last_direction.grad = None
            self.head.last_norm.grad = None
        weight_decay = cosine_schedule(step, max_steps, self.weight_decay_start, self.weight_decay_end)
        for group in optimizer.param_groups:
            if any(p.ndim > 1 for p in group["params"]):  # the decayed groups (train.optim.param_groups)
                group["weight_decay"] = weight_decay

    def on_step_end(self, step: int, max_steps: int) -> None:
        """After each optimiser step: the teacher follows the student by EMA (cosine momentum)."""
        self.step.fill_(step)
        momentum = cosine_momentum(step, max_steps, self.base_momentum)
        ema_update((self.teacher_backbone, self.teacher_head), (self.backbone, self.head), momentum)


@torch.no_grad()
def target_er_measures(targets: tuple[torch.Tensor, ...], student: tuple[torch.Tensor, ...],
                       student_temperature: float) -> dict[str, torch.Tensor]:
    """ER's discrete entropy and reconstruction of what DINO trains on (docs/er.md): Y2 =
    view 2's centred, sharpened teacher targets [N, K]; ``target_entropy`` = H of their batch
    mean (the ER authors' discrete ``expectation`` estimator), ``target_reconstruction`` =
    -CE(Y2, student distribution of view 1), ``target_i_er`` their sum (nats). Needs two views."""
    if len(targets) < 2:
        return {}
    y2 = targets[1]
    entropy = marginal_entropy(y2)
    reconstruction = -cross_entropy_reconstruction(y2, torch.log_softmax(student[0].float() / student_temperature, -1))
    return {"target_entropy": entropy, "target_reconstruction": reconstruction,
            "target_i_er": entropy + reconstruction}
