"""A Vision Transformer for small images (Dosovitskiy et al. 2021): non-overlapping
patches, a class token, learned position embeddings, pre-norm transformer blocks, and as the
feature the final class token (after a LayerNorm) or, with ``pool="mean"``, the average of
the final patch tokens (how I-JEPA and MAE's fine-tuning read their ViTs)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# name: (width, depth, heads), the DeiT sizes DINO and MoCo v3 use (ViT-Ti/S), and ViT-Ti cut to 4 blocks
# for CPU budgets (a vit-tiny step of the masked methods costs seconds on a CPU core)
VIT_SIZES = {"vit-tiny": (192, 12, 3), "vit-small": (384, 12, 6), "vit-mini": (192, 4, 3)}
POOLS = ("cls", "mean")
BASE_GRID = 8  # position embeddings are learned for 8 x 8 patches (32 px at patch 4) and resized for other sizes


def transformer_blocks(width: int, heads: int, depth: int) -> nn.TransformerEncoder:
    """``depth`` pre-norm blocks of multi-head self-attention (``heads``) and a GELU MLP
    (4 x width), without dropout: the ViT's, and the narrow ones of MAE's decoder and I-JEPA's
    predictor."""
    block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(block, depth, enable_nested_tensor=False)


class ViT(nn.Module):
    """The ViT of ``transformer_blocks`` on ``patch_size`` px patches (4 suits 24-32 px images), returning the
    normalised class token [N, width] (``pool="cls"``) or the mean of the normalised patch tokens
    (``"mean"``). Any image size divisible by the patch size is accepted: the 8 x 8 position embeddings are
    resized bicubically to the image's grid, as DINO's ``interpolate_pos_encoding``."""

    def __init__(self, width: int = 192, depth: int = 12, heads: int = 3, patch_size: int = 4, in_channels: int = 3,
                 pool: str = "cls"):
        super().__init__()
        if width % heads:
            raise ValueError(f"ViT width {width} is not divisible by its {heads} heads")
        if pool not in POOLS:
            raise ValueError(f"ViT pool must be one of {POOLS}, got {pool!r}")
        self.patch_size, self.out_dim, self.pool = patch_size, width, pool
        self.patch_embed = nn.Conv2d(in_channels, width, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + BASE_GRID * BASE_GRID, width))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = transformer_blocks(width, heads, depth)
        self.norm = nn.LayerNorm(width)

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        if (rows, cols) != (BASE_GRID, BASE_GRID):
            grid = grid.reshape(1, BASE_GRID, BASE_GRID, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(rows, cols), mode="bicubic", align_corners=False)
            grid = grid.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
        return torch.cat([cls, grid], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.read_out(self.tokens(x))

    def read_out(self, tokens: torch.Tensor) -> torch.Tensor:
        """The feature of tokens [N, 1 + k, width] from ``tokens``: the class token, or the
        mean of the k patch tokens (of the visible ones only, for a masked input)."""
        return tokens[:, 0] if self.pool == "cls" else tokens[:, 1:].mean(1)

    def tokens(self, x: torch.Tensor, visible: torch.Tensor | None = None, masked: torch.Tensor | None = None,
               mask_token: torch.Tensor | None = None) -> torch.Tensor:
        """Every output token, normalised [N, 1 + L, width] (class token first, then the
        patches in row-major order); with ``visible`` [N, k] patch indices only those patches
        go through the blocks (MAE's encoder: position embeddings are added before the
        others are dropped), giving [N, 1 + k, width]; with ``masked`` [N, L] bool the
        embedding of every masked patch is replaced by ``mask_token`` [width] before its
        position is added (iBOT's and DINOv2's student; the token belongs to the method)."""
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by the ViT's patch size "
                             f"{self.patch_size} (backbone.patch_size)")
        tokens = self.patch_embed(x)  # [N, width, rows, cols]
        rows, cols = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        if masked is not None:
            tokens = torch.where(masked.unsqueeze(-1), mask_token.to(tokens.dtype), tokens)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], 1) + self.position_embedding(rows, cols)
        if visible is not None:
            patches = tokens[:, 1:].gather(1, visible.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
            tokens = torch.cat([tokens[:, :1], patches], 1)
        return self.norm(self.blocks(tokens))
