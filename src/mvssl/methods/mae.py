"""MAE (He et al. 2022): masked autoencoders. Most patches of an image are hidden at
random; a ViT encoder sees only the visible ones, a light decoder fills the hidden ones in
with a shared mask token and predicts every patch's pixels, and the loss is the mean
squared error on the hidden patches against pixels normalised per patch. The masked view
and the full image are the two views; what they share is what the encoder must keep (the
reconstruction term of the ER decomposition, seed 003). ``mvssl.load`` returns the ViT."""
from __future__ import annotations

import torch
from torch import nn

from ..losses.masked import mae_loss
from ..nn.masked_decoder import MaskedDecoder
from ..views.masking import RandomPatchMask, check_mask_ratio, patchify
from .base import MethodOutput, at_least, n_global_views, require_vit


class MAE(nn.Module):
    """Paper values (Sec. 3-4, Table 1): mask ratio 0.75, decoder 8 blocks of width 512 (16 heads),
    normalised-pixel targets, sine-cosine positions in the decoder. Here the decoder is 2 blocks of width
    128 with 4 heads (Table 1a-b: one block already fine-tunes as well). Every view of the first size is
    masked separately; the ViT is read by averaging its patch tokens (``vit_pool``; docs/methods.md says why
    and what the probe reads). The mask comes from the step's seeded generator."""

    needs = ("backbone",)  # see base.NEEDS
    step_inputs = ("generator",)  # draws the masks
    requires_vit = True  # config refuses another backbone (checks.check_names)
    vit_pool = "mean"  # the ViT's feature is the average of its patch tokens (build.backbone_factory)

    def __init__(self, backbone: nn.Module, feature_dim: int, mask_ratio: float = 0.75, decoder_width: int = 128,
                 decoder_depth: int = 2, decoder_heads: int = 4, normalise_pixels: bool = True):
        super().__init__()
        require_vit(backbone, "mae")
        at_least(0, True, decoder_width=decoder_width, decoder_depth=decoder_depth, decoder_heads=decoder_heads)
        if decoder_width % decoder_heads or decoder_width % 4:
            raise ValueError(f"method.decoder_width: {decoder_width} must be divisible by 4 and by decoder_heads "
                             f"{decoder_heads}")
        self.masking = RandomPatchMask(mask_ratio)
        self.backbone = backbone
        in_channels = backbone.patch_embed.in_channels
        self.decoder = MaskedDecoder(feature_dim, decoder_width, decoder_depth, decoder_heads,
                                     backbone.patch_size ** 2 * in_channels)
        self.normalise_pixels = normalise_pixels

    @staticmethod
    def check_hyperparameters(method: dict) -> None:
        """What config can check before anything is built (``checks.check_names``)."""
        check_mask_ratio(method["mask_ratio"])

    def forward(self, views: list[torch.Tensor], generator: torch.Generator | None = None) -> MethodOutput:
        n, images = len(views[0]), torch.cat(views[:n_global_views(views)])
        p = self.backbone.patch_size
        rows, cols = images.shape[-2] // p, images.shape[-1] // p
        mask = self.masking.sample(len(images), rows * cols, generator, images.device)
        encoded = self.backbone.tokens(images, mask["visible"])  # [V N, 1 + visible, width]
        prediction = self.decoder(encoded, mask["visible"], rows, cols)
        loss = mae_loss(prediction, patchify(images, p), mask["masked"], self.normalise_pixels)
        pooled = encoded[:, 1:].mean(1)  # the visible patches' mean, as the ViT reads itself (vit_pool)
        return MethodOutput(loss=loss, features=pooled[:n], embeddings=list(pooled.split(n)),
                            logs={"masked_fraction": mask["masked"].float().mean().detach()})
