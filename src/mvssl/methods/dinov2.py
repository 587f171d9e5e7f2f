"""DINOv2-style self-distillation (Oquab et al. 2023, Sec. 4): DINO's image-level loss on
the class tokens, plus iBOT's patch-level loss (Zhou et al. 2022) and the KoLeo
regulariser. The student sees the global crops with some patches replaced by a mask
token, and at those patches its head output predicts the teacher's, which saw them
(``losses.ibot_patch_loss``); KoLeo spreads the student's class tokens of each global crop
over the sphere (``losses.koleo_loss``). Everything else (the EMA teacher, centring and
sharpening, the temperature warm-up, the three stabilisers) is DINO's (``methods.dino``)."""
from __future__ import annotations

import torch
from torch import nn

from ..losses import dino_loss
from ..losses.dinov2 import ibot_patch_loss, koleo_loss
from ..nn import Centre
from ..views.masking import RandomRatioPatchMask
from .base import MethodOutput, at_least, encode_views, n_global_views, require_vit
from .dino import DINO


class DINOv2(DINO):
    """Paper values (Sec. 4 and the official ``ssl_default_config.yaml``): iBOT loss weight 1.0, KoLeo 0.1
    (summed over the global crops), half of the images masked with a share of 0.1-0.5 of their patches, one
    head for class and patch tokens, no BN in the head; DINO's otherwise. Differences: DINO's running-mean
    centring (DINOv2: Sinkhorn-Knopp), random patches rather than blocks, and DINO's defaults scaled down here.
    ViT only. The probe reads the student's class tokens of the first global view (masked for half the
    images); ``mvssl.load`` returns the student ViT, read by its class token."""

    step_inputs = ("generator",)  # draws the masks
    requires_vit = True  # config refuses another backbone (checks.check_names)

    def __init__(self, backbone: nn.Module, feature_dim: int, ibot_weight: float = 1.0, koleo_weight: float = 0.1,
                 mask_ratio_min: float = 0.1, mask_ratio_max: float = 0.5, mask_probability: float = 0.5,
                 head_batch_norm: bool = False, **kwargs):
        require_vit(backbone, "dinov2")
        super().__init__(backbone, feature_dim, head_batch_norm=head_batch_norm, **kwargs)
        at_least(0, ibot_weight=ibot_weight, koleo_weight=koleo_weight)
        self.masking = self.patch_masks(dict(mask_ratio_min=mask_ratio_min, mask_ratio_max=mask_ratio_max,
                                             mask_probability=mask_probability))
        self.ibot_weight, self.koleo_weight = ibot_weight, koleo_weight
        self.mask_token = nn.Parameter(torch.zeros(feature_dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.patch_centre = Centre(self.centre.value.numel(), self.centre.momentum, varying_count=True)

    @staticmethod
    def patch_masks(method: dict) -> RandomRatioPatchMask:
        """The masking of the ``method`` config section; config calls it before anything is built."""
        return RandomRatioPatchMask((method["mask_ratio_min"], method["mask_ratio_max"]), method["mask_probability"])

    check_hyperparameters = patch_masks  # what config can check before anything is built (checks.check_names)

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> MethodOutput:
        n, n_global = len(views[0]), n_global_views(views)
        crops = torch.cat(views[:n_global])
        p = self.backbone.patch_size
        mask = self.masking.sample(len(crops), (crops.shape[-2] // p) * (crops.shape[-1] // p), generator,
                                   crops.device)
        masked = mask["masked"]
        tokens = self.backbone.tokens(crops, masked=masked, mask_token=self.mask_token)  # [G n, 1 + L, width]
        h = tokens[:, 0]
        if n_global < len(views):  # local crops: unmasked, class tokens only
            h = torch.cat([h, encode_views(self.backbone, views[n_global:])])
        student = self.head(h).split(n)
        student_patches = self.head(tokens[:, 1:][masked])  # [M, K] at the masked patches
        with torch.no_grad():
            teacher_tokens = self.teacher_backbone.tokens(crops)
            teacher = self.teacher_head(teacher_tokens[:, 0])
            teacher_patches = self.teacher_head(teacher_tokens[:, 1:][masked])
        temperature = self.current_teacher_temperature()
        image_loss = dino_loss(list(student), list(teacher.split(n)), self.centre.value, self.student_temperature,
                               temperature)
        patch_loss = ibot_patch_loss(student_patches, teacher_patches, masked, self.patch_centre.value,
                                     self.student_temperature, temperature)
        spread = sum(koleo_loss(cls) for cls in tokens[:, 0].split(n))  # per global crop, summed (DINOv2)
        loss = image_loss + self.ibot_weight * patch_loss + self.koleo_weight * spread
        logs = self.target_logs(teacher, temperature, student)  # before the centre moves
        if self.training:
            self.centre.update(teacher)
            self.patch_centre.update(teacher_patches)
        return MethodOutput(loss=loss, features=h[:n], embeddings=list(student),
                            logs={"dino": image_loss.detach(), "ibot": patch_loss.detach(), "koleo": spread.detach(),
                                  "masked_fraction": masked.float().mean().detach(),
                                  "teacher_temperature": torch.tensor(temperature, device=h.device),
                                  **logs})
