"""I-JEPA (Assran et al. 2023): from one context block of an image, predict the
representations of several target blocks of the same image. A ViT context encoder sees
only the context patches; an EMA copy of it (the target encoder) sees the whole image, and
its layer-normalised tokens at the target patches are the targets; a narrow ViT predictor
reads the context tokens and a mask token at each target position. No augmentations: the
masks make the views (``views.masking.MultiBlockMask``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..losses.jepa import ijepa_loss
from ..nn import cosine_momentum, ema_update, frozen_copy
from ..nn.masked_decoder import JEPAPredictor
from ..views.masking import MultiBlockMask
from .base import MethodOutput, n_global_views, require_vit


class IJEPA(nn.Module):
    """Paper values (Sec. 4, App. C): 4 target blocks of scale 0.15-0.2 and aspect 0.75-1.5, a context block
    of scale 0.85-1.0 (aspect 1) without the targets, EMA momentum 0.996 -> 1 (linear there; the cosine of
    BYOL and DINO here), predictor 384 wide and 6-12 deep, smooth-L1 on layer-normalised targets. Here the
    predictor is 96 wide, 4 blocks, 4 heads, for ViT-Tiny. As in the paper the encoder a run keeps is the
    *target* encoder, average-pooled (``encoder_backbone``, ``vit_pool``), which the probe and monitors read
    too. mvssl's ViT has a class token; it rides along with the context into the predictor. Every view of
    the first size is masked separately."""

    needs = ("backbone",)  # see base.NEEDS
    step_inputs = ("generator",)  # draws the blocks
    requires_vit = True  # config refuses another backbone (checks.check_names)
    vit_pool = "mean"  # the ViT's feature is the average of its patch tokens (build.backbone_factory)
    encoder_backbone = "target_backbone"  # what a run keeps as its encoder (build.encoder_attribute)
    predicts_projection = False  # its predictor reads tokens, not a projection (info.er)

    def __init__(self, backbone: nn.Module, feature_dim: int, n_targets: int = 4, target_scale_min: float = 0.15,
                 target_scale_max: float = 0.2, target_aspect_min: float = 0.75, target_aspect_max: float = 1.5,
                 context_scale_min: float = 0.85, context_scale_max: float = 1.0, predictor_width: int = 96,
                 predictor_depth: int = 4, predictor_heads: int = 4, base_momentum: float = 0.996):
        super().__init__()
        require_vit(backbone, "ijepa")
        if predictor_width % 4 or predictor_width % predictor_heads or predictor_depth < 1:
            raise ValueError(f"method.predictor_width: {predictor_width} must be divisible by 4 and by "
                             f"predictor_heads {predictor_heads}, with predictor_depth >= 1")
        if not 0.0 <= base_momentum <= 1.0:
            raise ValueError(f"method.base_momentum: must be in [0, 1], got {base_momentum}")
        self.masking = self.block_masks(dict(n_targets=n_targets, target_scale_min=target_scale_min,
                                             target_scale_max=target_scale_max, target_aspect_min=target_aspect_min,
                                             target_aspect_max=target_aspect_max, context_scale_min=context_scale_min,
                                             context_scale_max=context_scale_max))
        self.backbone = backbone
        self.target_backbone = frozen_copy(backbone)
        self.predictor = JEPAPredictor(feature_dim, predictor_width, predictor_depth, predictor_heads)
        self.base_momentum = base_momentum

    @staticmethod
    def block_masks(method: dict) -> MultiBlockMask:
        """The masking of the ``method`` config section; config calls it before anything is built."""
        return MultiBlockMask(method["n_targets"], (method["target_scale_min"], method["target_scale_max"]),
                              (method["target_aspect_min"], method["target_aspect_max"]),
                              (method["context_scale_min"], method["context_scale_max"]))

    check_hyperparameters = block_masks  # what config can check before anything is built (checks.check_names)

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> MethodOutput:
        n, images = len(views[0]), torch.cat(views[:n_global_views(views)])
        p = self.backbone.patch_size
        rows, cols = images.shape[-2] // p, images.shape[-1] // p
        masks = self.masking.sample(len(images), rows, cols, generator, images.device)
        targets = masks["targets"]  # [B, K, t]
        b, k, t = targets.shape
        with torch.no_grad():
            everything = self.target_backbone.tokens(images)
            pooled = everything[:, 1:].mean(1)  # what the probe and the monitors read (vit_pool)
            tokens = everything[:, 1:]
            tokens = F.layer_norm(tokens.float(), tokens.shape[-1:])  # the paper normalises the targets
            goal = tokens.gather(1, targets.reshape(b, k * t, 1).expand(-1, -1, tokens.shape[-1]))
        context = self.backbone.tokens(images, masks["context"])  # [B, 1 + c, width]
        repeat = lambda x: x.repeat_interleave(k, 0)  # noqa: E731  one predictor pass per target block
        prediction = self.predictor(repeat(context[:, :1]), repeat(context[:, 1:]), repeat(masks["context"]),
                                    targets.reshape(b * k, t), rows, cols)
        loss = ijepa_loss(prediction, goal.reshape(b * k, t, -1))
        return MethodOutput(loss=loss, features=pooled[:n], embeddings=list(pooled.split(n)),
                            logs={"context_patches": torch.tensor(float(masks["context"].shape[1]), device=loss.device)})

    def on_step_end(self, step: int, max_steps: int) -> None:
        """After each optimiser step the target encoder follows the context encoder by EMA."""
        ema_update(self.target_backbone, self.backbone, cosine_momentum(step, max_steps, self.base_momentum))
