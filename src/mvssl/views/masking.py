"""Patch masking for masked-image methods (MAE), batched like the ops in ``views.ops``:
``sample`` draws one mask per image from an explicit generator and returns it as
parameters (which patches stay visible, and the boolean mask), ``apply`` keeps the visible
tokens. Every image keeps the same number of patches, so the kept tokens stay one
rectangular [N, n_visible, D] tensor and nothing loops over images."""
from __future__ import annotations

import math

import torch

Params = dict[str, torch.Tensor]


def check_mask_ratio(ratio: float, key: str = "method.mask_ratio") -> None:
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"{key}: must be in (0, 1), got {ratio}")


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """[N, C, H, W] -> [N, L, patch_size^2 * C], patches in row-major order (the ViT's token
    order), each patch's pixels row-major with the channels last."""
    n, c, h, w = images.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"image size {(h, w)} is not divisible by the patch size {patch_size} (backbone.patch_size)")
    x = images.reshape(n, c, h // patch_size, patch_size, w // patch_size, patch_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, (h // patch_size) * (w // patch_size), patch_size * patch_size * c)


class RandomPatchMask:
    """MAE's random masking (He et al. 2022, Sec. 3): of the L patches of each image, a
    uniformly random subset of ``round(L * (1 - ratio))`` stays visible, drawn independently
    per image (the argsort of uniform noise, as the paper's implementation shuffles)."""

    name = "patch_mask"

    def __init__(self, ratio: float = 0.75):
        check_mask_ratio(ratio)
        self.ratio = ratio

    def n_visible(self, n_patches: int) -> int:
        return max(1, min(n_patches - 1, round(n_patches * (1 - self.ratio))))

    def sample(self, n: int, n_patches: int, g: torch.Generator | None, device) -> Params:
        """``visible`` [N, n_visible]: the kept patch indices, ascending; ``masked`` [N, L]:
        True where a patch is hidden (what the loss is taken on)."""
        noise = torch.rand(n, n_patches, generator=g, device=g.device if g is not None else device).to(device)
        visible = noise.argsort(dim=1)[:, :self.n_visible(n_patches)].sort(dim=1).values
        masked = torch.ones(n, n_patches, dtype=torch.bool, device=device)
        masked.scatter_(1, visible, False)
        return {"visible": visible, "masked": masked}

    def apply(self, tokens: torch.Tensor, p: Params) -> torch.Tensor:
        """[N, L, D] tokens -> [N, n_visible, D], the visible ones in patch order."""
        return tokens.gather(1, p["visible"].unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


class RandomRatioPatchMask:
    """iBOT's and DINOv2's masking of the student's global crops (Zhou et al. 2022, Sec. 3.2; Oquab et al.
    2023, Sec. 4): each image is masked with probability ``probability``, hiding a uniformly random subset of
    its patches whose share is drawn uniformly in ``ratio`` per image (DINOv2's collator spreads the ratios
    over the batch and masks blocks; here iBOT's "rand" masking). ``masked`` [N, L] bool, with the draws."""

    name = "ratio_patch_mask"

    def __init__(self, ratio: tuple[float, float] = (0.1, 0.5), probability: float = 0.5):
        check_mask_ratio(ratio[0], "method.mask_ratio_min")
        check_mask_ratio(ratio[1], "method.mask_ratio_max")
        if ratio[0] > ratio[1]:
            raise ValueError(f"method.mask_ratio_min, mask_ratio_max: must be min <= max, got {ratio[0]}, {ratio[1]}")
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"method.mask_probability: must be in (0, 1], got {probability}")
        self.ratio, self.probability = ratio, probability

    def sample(self, n: int, n_patches: int, g: torch.Generator | None, device) -> Params:
        on = g.device if g is not None else device
        draws = torch.rand(n, 2, generator=g, device=on).to(device)
        noise = torch.rand(n, n_patches, generator=g, device=on).to(device)
        chosen = draws[:, 0] < self.probability
        ratio = self.ratio[0] + draws[:, 1] * (self.ratio[1] - self.ratio[0])
        count = (ratio * n_patches).round().long().clamp(1, n_patches - 1) * chosen
        rank = noise.argsort(1).argsort(1)  # each patch's place in a random order of the image's patches
        return {"masked": rank < count.unsqueeze(1), "chosen": chosen, "ratio": ratio}


def _block_indices(corners: torch.Tensor, height: int, width: int, cols: int) -> torch.Tensor:
    """Patch indices [..., height * width] of blocks whose top-left patches are ``corners`` [..., 2]."""
    dr = torch.arange(height, device=corners.device).repeat_interleave(width)
    dc = torch.arange(width, device=corners.device).repeat(height)
    return (corners[..., :1] + dr) * cols + corners[..., 1:] + dc


class MultiBlockMask:
    """I-JEPA's multi-block masking (Assran et al. 2023, Sec. 3): ``n_targets`` target blocks of scale
    ``target_scale`` and aspect (height / width) ``target_aspect``, and one context block of scale
    ``context_scale``, aspect 1, without the target patches. As the paper's collator, one block size per
    batch (so the targets stack) and the positions per image; a context longer than the batch's shortest
    keeps its first patches, so the context is rectangular too."""

    name = "multi_block_mask"
    MIN_CONTEXT = 4  # the paper's collator keeps at least 4 patches in every mask (min_keep)
    REDRAWS = 20  # rounds; a grid too small for MIN_CONTEXT keeps what the last round left (never 0: below)

    def __init__(self, n_targets: int = 4, target_scale: tuple[float, float] = (0.15, 0.2),
                 target_aspect: tuple[float, float] = (0.75, 1.5), context_scale: tuple[float, float] = (0.85, 1.0)):
        for key, (lo, hi) in (("target_scale", target_scale), ("context_scale", context_scale)):
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"method.{key}_min, {key}_max: must be 0 < min <= max <= 1, got {lo}, {hi}")
        if not 0.0 < target_aspect[0] <= target_aspect[1]:
            raise ValueError(f"method.target_aspect_min, target_aspect_max: must be 0 < min <= max, got "
                             f"{target_aspect[0]}, {target_aspect[1]}")
        if n_targets < 1:
            raise ValueError(f"method.n_targets: must be >= 1, got {n_targets}")
        self.n_targets, self.target_scale, self.target_aspect = n_targets, target_scale, target_aspect
        self.context_scale = context_scale

    @staticmethod
    def _block_size(scale: tuple[float, float], aspect: tuple[float, float], rows: int, cols: int,
                    g: torch.Generator | None) -> tuple[int, int]:
        u = torch.rand(2, generator=g, device=g.device if g is not None else "cpu").tolist()
        area = (scale[0] + u[0] * (scale[1] - scale[0])) * rows * cols
        ratio = aspect[0] + u[1] * (aspect[1] - aspect[0])  # uniform, as the paper's collator
        height = max(1, min(rows, round(math.sqrt(area * ratio))))
        return height, max(1, min(cols, round(math.sqrt(area / ratio))))

    def sample(self, n: int, rows: int, cols: int, g: torch.Generator | None, device) -> Params:
        """``targets`` [N, n_targets, patches per block] and ``context`` [N, n_context]
        patch indices (row-major), with the batch's ``target_size`` and ``context_size``
        (height, width), the blocks' top-left ``target_corners`` [N, n_targets, 2] and
        ``context_corner`` [N, 2], and the boolean ``context_mask`` [N, L] before truncation."""
        on = g.device if g is not None else device
        th, tw = self._block_size(self.target_scale, self.target_aspect, rows, cols, g)
        ch, cw = self._block_size(self.context_scale, (1.0, 1.0), rows, cols, g)
        limits = torch.tensor([rows - th + 1, cols - tw + 1], device=on)
        target_corners = (torch.rand(n, self.n_targets, 2, generator=g, device=on) * limits).long().to(device)
        context_corner = (torch.rand(n, 2, generator=g, device=on) *
                          torch.tensor([rows - ch + 1, cols - cw + 1], device=on)).long().to(device)
        block = _block_indices(context_corner, ch, cw, cols)
        for _ in range(self.REDRAWS):
            targets = _block_indices(target_corners, th, tw, cols)
            in_context = torch.zeros(n, rows * cols, dtype=torch.bool, device=device)
            in_context.scatter_(1, block, True)
            in_context.scatter_(1, targets.flatten(1), False)
            # where the targets cover an image's whole context block, its context is the rest of the
            # image (the paper's collator redraws the context block instead)
            complement = torch.ones_like(in_context).scatter_(1, targets.flatten(1), False)
            in_context = torch.where(in_context.any(1, keepdim=True), in_context, complement)
            # an image left with fewer than MIN_CONTEXT context patches (on a small grid, four
            # blocks can cover it whole) redraws its target blocks, as the paper's collator redraws
            # a mask below its min_keep of 4; one batched redraw of those images per round
            short = in_context.sum(1) < self.MIN_CONTEXT
            if not bool(short.any()):
                break
            redrawn = (torch.rand(n, self.n_targets, 2, generator=g, device=on) * limits).long().to(device)
            target_corners = torch.where(short[:, None, None], redrawn, target_corners)
        kept = int(in_context.sum(1).min())
        if kept == 0:
            raise ValueError(f"multi-block masking: the target blocks covered a whole {rows} x {cols} grid of "
                             "patches; use a smaller method.target_scale_max, fewer method.n_targets or a smaller "
                             "backbone.patch_size")
        order = (~in_context).long() * rows * cols + torch.arange(rows * cols, device=device)  # context first
        context = order.argsort(dim=1)[:, :kept]
        return {"targets": targets, "context": context, "context_mask": in_context,
                "target_corners": target_corners, "context_corner": context_corner,
                "target_size": torch.tensor([th, tw]), "context_size": torch.tensor([ch, cw])}
