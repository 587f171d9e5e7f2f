"""Decoders over masked patches: MAE's light decoder (He et al. 2022, Sec. 3) from the visible tokens and
a shared mask token at every hidden patch to the pixels of every patch, and I-JEPA's predictor; both
with fixed 2-D sine-cosine positions and a few narrow transformer blocks."""
from __future__ import annotations

import torch
from torch import nn

from .vit import transformer_blocks


def sincos_position_embedding(rows: int, cols: int, dim: int, device=None) -> torch.Tensor:
    """[rows * cols, dim] fixed 2-D sine-cosine embeddings (row-major): half of the
    dimensions encode the row, half the column, each as sin/cos at frequencies
    1 / 10000^(2i / (dim / 2)). Defined for any grid, so no table needs resizing."""
    if dim % 4:
        raise ValueError(f"a 2-D sine-cosine embedding needs a width divisible by 4, got {dim}")
    quarter = dim // 4
    frequencies = 1.0 / 10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    r, c = torch.meshgrid(torch.arange(rows, device=device, dtype=torch.float32),
                          torch.arange(cols, device=device, dtype=torch.float32), indexing="ij")
    angles_r, angles_c = r.reshape(-1, 1) * frequencies, c.reshape(-1, 1) * frequencies
    return torch.cat([angles_r.sin(), angles_r.cos(), angles_c.sin(), angles_c.cos()], 1)


class _NarrowTransformer(nn.Module):
    """What both share: the encoder's tokens of ``width`` embedded to a narrower ``inner``, one
    learned mask token, ``depth`` transformer blocks and a final LayerNorm."""

    def __init__(self, width: int, inner: int, depth: int, heads: int):
        super().__init__()
        self.embed = nn.Linear(width, inner)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, inner))
        nn.init.normal_(self.mask_token, std=0.02)
        self.blocks = transformer_blocks(inner, heads, depth)
        self.norm = nn.LayerNorm(inner)


class MaskedDecoder(_NarrowTransformer):
    """From the encoder's tokens [N, 1 + k, width] (class token, then the k visible patches)
    and their patch indices [N, k] to a prediction of every patch's pixels [N, L, pixels]."""

    def __init__(self, width: int, decoder_width: int, depth: int, heads: int, pixels: int):
        super().__init__(width, decoder_width, depth, heads)
        self.predict = nn.Linear(decoder_width, pixels)

    def forward(self, encoded: torch.Tensor, visible: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        x = self.embed(encoded)
        n, dim = len(x), x.shape[-1]
        where = visible.unsqueeze(-1).expand(-1, -1, dim)
        patches = self.mask_token.to(x.dtype).expand(n, rows * cols, dim).scatter(1, where, x[:, 1:])
        patches = patches + sincos_position_embedding(rows, cols, dim, x.device).to(x.dtype)
        tokens = torch.cat([x[:, :1], patches], 1)  # the class token has no position
        return self.predict(self.norm(self.blocks(tokens)))[:, 1:]


class JEPAPredictor(_NarrowTransformer):
    """I-JEPA's predictor (Assran et al. 2023, Sec. 3): a narrow ViT reading the context encoder's tokens
    (with their positions; a leading class token rides along) and one mask token per target patch carrying
    only its position; returns a prediction of the target encoder's token at each target [B, t, width]."""

    def __init__(self, width: int, predictor_width: int, depth: int, heads: int):
        super().__init__(width, predictor_width, depth, heads)
        self.project = nn.Linear(predictor_width, width)

    def forward(self, cls: torch.Tensor, context: torch.Tensor, context_index: torch.Tensor,
                target_index: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        """``cls`` [B, 1, width], ``context`` [B, c, width] at patches ``context_index`` [B, c],
        targets at ``target_index`` [B, t]."""
        x = self.embed(torch.cat([cls, context], 1))
        position = sincos_position_embedding(rows, cols, x.shape[-1], x.device).to(x.dtype)
        x = torch.cat([x[:, :1], x[:, 1:] + position[context_index]], 1)
        queries = self.mask_token.to(x.dtype) + position[target_index]
        out = self.blocks(torch.cat([x, queries], 1))[:, x.shape[1]:]
        return self.project(self.norm(out))
