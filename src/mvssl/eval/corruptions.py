"""ImageNet-C-style corruptions (Hendrycks & Dietterich 2019) of uint8 images [N, 3, H, W] at severities
1-5, in batched torch (JPEG through PIL image by image); the parameters and why blur and pixelate depart
from ImageNet-C (images of 16-96 px, not 224) are in docs/evaluation.md."""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import options

SEVERITIES = (1, 2, 3, 4, 5)
PARAMETERS = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "pixelate": (2, 3, 4, 5, 6),
    "jpeg": (25, 18, 15, 10, 7),
}
CORRUPTIONS = tuple(PARAMETERS)
assert CORRUPTIONS == options.CORRUPTIONS, "eval/options.py lists the corruptions mvssl eval offers"


def gaussian_noise(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(x.shape, generator=generator, device=generator.device).to(x.device)
    return (x + sigma * noise).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = min(max(1, math.ceil(3 * sigma)), min(x.shape[-2:]) - 1)
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def contrast(x: torch.Tensor, factor: float) -> torch.Tensor:
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0, 1)


def brightness(x: torch.Tensor, shift: float) -> torch.Tensor:
    # Every RGB channel is V times a function of (hue, saturation), so a new V rescales them all.
    value = x.amax(1, keepdim=True)
    new_value = (value + shift).clamp(max=1)
    scaled = x * (new_value / value.clamp(min=1e-8))
    return torch.where(value > 0, scaled, new_value.expand_as(x))


def pixelate(x: torch.Tensor, block: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    means = F.avg_pool2d(x, block, block, ceil_mode=True)  # edge blocks average their pixels only
    return means.repeat_interleave(block, -2).repeat_interleave(block, -1)[..., :h, :w]


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """Round trip through PIL's JPEG codec, one image at a time (torchvision's codec is deprecated)."""
    out = []
    for img in images.permute(0, 2, 3, 1).cpu().numpy():
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous().to(images.device)


def corrupt(images: torch.Tensor, name: str, severity: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``images`` (uint8 [N, 3, H, W]) under corruption ``name`` at ``severity`` (1-5), as uint8."""
    if name not in PARAMETERS:
        raise ValueError(f"unknown corruption {name!r}; choose from {list(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    c = PARAMETERS[name][severity - 1]
    if name == "jpeg":
        return jpeg(images, c)
    x = images.float() / 255.0
    if name == "gaussian_noise":
        if generator is None:
            raise ValueError("gaussian_noise needs a torch.Generator")
        x = gaussian_noise(x, c, generator)
    elif name == "gaussian_blur":
        x = gaussian_blur(x, c * max(1.0, images.shape[-1] / 32))
    elif name == "contrast":
        x = contrast(x, c)
    elif name == "brightness":
        x = brightness(x, c)
    else:
        x = pixelate(x, c)
    return (x * 255.0).round_().clamp_(0, 255).to(torch.uint8)
