"""RandAugment-style ops (Cubuk et al. 2020), batched, for InfoMin Aug's last stage (Tian et al. 2020,
Sec. 4.2): every image gets ``n_ops`` ops from a small set at magnitude ``magnitude`` in [0, 1] (a
random sign for the geometric ones). Each op maps float [B, 3, H, W] and signed magnitudes [B] to
images; ``RandAugment.apply`` loops over op types (a handful), never over images."""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from .ops import Op, _uniform


def autocontrast(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Stretch every channel to the full [0, 1] range (magnitude-free)."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 1e-3, (x - lo) / span.clamp(min=1e-3), x)


def equalize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of every channel over 256 levels (magnitude-free): each level
    maps to the fraction of pixels at or below it, the lowest present level to 0."""
    b, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float))
    cdf = hist.cumsum(1)
    lowest = cdf.gather(1, q.min(1, keepdim=True).values)  # pixels at the lowest present level
    denom = (h * w - lowest).clamp(min=1)
    lut = ((cdf - lowest) / denom).clamp(0, 1)
    out = lut.gather(1, q).reshape(b, c, h, w).to(x.dtype)
    flat = (h * w - lowest).reshape(b, c, 1, 1) == 0  # one level only: nothing to equalise
    return torch.where(flat, x, out)


def posterize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Keep 8 - round(4|m|) bits per channel (8 bits at m = 0, 4 at |m| = 1)."""
    drop = (4 * m.abs()).round()[:, None, None, None]
    step = torch.pow(2.0, drop).to(x.dtype)
    return torch.floor((x * 255).round() / step) * step / 255


def solarize(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Invert pixels at or above the threshold 1 - |m| (none at m = 0)."""
    threshold = (1 - m.abs())[:, None, None, None].to(x.dtype)
    return torch.where((x >= threshold) & (threshold < 1), 1 - x, x)


def _affine(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Resample with the [B, 2, 2] output->input maps ``a`` about the image centre; pixels
    from outside the image are filled with mid grey (RandAugment fills with 128)."""
    theta = torch.zeros(len(x), 2, 3, device=x.device, dtype=x.dtype)
    theta[:, :, :2] = a.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ones = torch.ones_like(x[:, :1])
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    cover = out[:, -1:]
    return out[:, :-1] + (1 - cover) * 0.5


def rotate(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Rotate by 30 m degrees."""
    r = torch.deg2rad(30 * m.float())
    a = torch.stack([torch.stack([r.cos(), -r.sin()], 1), torch.stack([r.sin(), r.cos()], 1)], 1)
    return _affine(x, a)


def _shear(x: torch.Tensor, m: torch.Tensor, row: int) -> torch.Tensor:
    """Shear by 0.3 m: horizontally (``row`` 0: ``shear_x``) or vertically (``row`` 1: ``shear_y``)."""
    a = torch.eye(2, device=x.device).repeat(len(x), 1, 1)
    a[:, row, 1 - row] = 0.3 * m.float()
    return _affine(x, a)


shear_x, shear_y = partial(_shear, row=0), partial(_shear, row=1)


RANDAUGMENT_OPS = {"autocontrast": autocontrast, "equalize": equalize, "posterize": posterize,
                   "solarize": solarize, "rotate": rotate, "shear_x": shear_x, "shear_y": shear_y}


class RandAugment(Op):
    """``n_ops`` ops per image, drawn uniformly with replacement from ``ops`` (``RANDAUGMENT_OPS``), applied in
    order at ``magnitude`` (RandAugment's M / 30) with a random sign. Params: ``ops`` and ``magnitude`` [B, n_ops]."""

    name = "randaug"

    def __init__(self, n_ops: int = 2, magnitude: float = 10 / 30, ops=tuple(RANDAUGMENT_OPS)):
        unknown = [o for o in ops if o not in RANDAUGMENT_OPS]
        if unknown:
            raise ValueError(f"unknown RandAugment op(s) {unknown}; choose from {list(RANDAUGMENT_OPS)}")
        if n_ops < 1 or not 0 <= magnitude <= 1:
            raise ValueError(f"need n_ops >= 1 and 0 <= magnitude <= 1, got {n_ops} and {magnitude}")
        self.n_ops, self.magnitude, self.ops = n_ops, magnitude, tuple(ops)

    def sample(self, n, g, device):
        which = torch.randint(len(self.ops), (n, self.n_ops), generator=g, device=device)
        sign = torch.where(_uniform(n * self.n_ops, 0, 1, g, device) < 0.5, -1.0, 1.0).view(n, self.n_ops)
        return {"ops": which, "magnitude": sign * self.magnitude}

    def apply(self, x, p):
        for slot in range(p["ops"].shape[1]):
            out = x.clone()
            for k, name in enumerate(self.ops):
                chosen = p["ops"][:, slot] == k
                if chosen.any():
                    # under autocast an op may return another float type than its input (grid_sample: fp32)
                    y = RANDAUGMENT_OPS[name](x[chosen], p["magnitude"][chosen, slot])
                    out[chosen] = y.clamp(0, 1).to(out.dtype)
            x = out
        return x


__all__ = ["RandAugment", "RANDAUGMENT_OPS"] + list(RANDAUGMENT_OPS)
