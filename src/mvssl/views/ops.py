"""Batched, per-sample random augmentations on the training device (docs/views.md). Every op has two
halves, ``sample(n, generator, device) -> params`` and ``apply(x, params) -> x``, so a recipe records
every parameter it drew and can reuse any of them for another view (LooC's keys, factor-shared views);
LooC's ops also have ``differ(params, generator)``: parameters giving every image another value of the
op. Images are float [B, C, H, W] in [0, 1]; no op loops over images. Colour jitter, grayscale and Sobel
need RGB; the other ops act on any number of channels."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..colour import GREY_WEIGHTS, hue_rotation

Params = dict[str, torch.Tensor]


def _uniform(n, lo, hi, g, device):
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo


def _coin(n, p, g, device):
    return torch.rand(n, generator=g, device=device) < p


class Op:
    name = "op"

    def sample(self, n: int, g: torch.Generator, device) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        raise NotImplementedError

    def differ(self, p: Params, g: torch.Generator) -> Params:
        raise NotImplementedError(f"op {self.name!r} cannot draw parameters that differ from given ones")


class ResizedCrop(Op):
    """Random resized crop (area fraction ``scale``, aspect ``ratio``) + horizontal flip,
    resampled with one batched ``grid_sample`` to ``size``."""

    name = "crop"

    def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p: float = 0.5):
        self.size, self.scale, self.ratio, self.flip_p = size, tuple(scale), tuple(ratio), flip_p

    def sample(self, n, g, device):
        area = _uniform(n, *self.scale, g, device)
        log_r = _uniform(n, math.log(self.ratio[0]), math.log(self.ratio[1]), g, device)
        aspect = torch.exp(log_r)
        w = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the image width
        h = torch.sqrt(area / aspect).clamp(max=1.0)
        cy = _uniform(n, 0, 1, g, device) * (1 - h) + h / 2
        cx = _uniform(n, 0, 1, g, device) * (1 - w) + w / 2
        flip = _coin(n, self.flip_p, g, device)
        return {"box": torch.stack([cy, cx, h, w], 1), "flip": flip}

    def apply(self, x, p):
        cy, cx, h, w = (v.to(x.dtype) for v in p["box"].unbind(1))
        sx = torch.where(p["flip"], -w, w)
        # the grid F.affine_grid makes for theta = [[sx, 0, 2cx-1], [0, h, 2cy-1]] (align_corners=False),
        # built by broadcasting: affine_grid's batched [HW, 3] @ [3, 2] matmul is far slower on CPU
        base = (torch.arange(self.size, device=x.device, dtype=x.dtype) * 2 + 1) / self.size - 1
        gx = sx[:, None, None] * base[None, None, :] + (cx * 2 - 1)[:, None, None]
        gy = h[:, None, None] * base[None, :, None] + (cy * 2 - 1)[:, None, None]
        grid = torch.stack(torch.broadcast_tensors(gx, gy), -1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class Rotate(Op):
    """Rotation by a multiple of 90 degrees (``quarter=True``, LooC's four-way rotation)
    or by a uniform angle in [-degrees, degrees]."""

    name = "rotate"

    def __init__(self, degrees: float = 180.0, quarter: bool = True, p: float = 1.0):
        self.degrees, self.quarter, self.p = degrees, quarter, p

    def sample(self, n, g, device):
        if self.quarter:
            k = torch.randint(4, (n,), generator=g, device=device)
            angle = k.float() * 90.0
        else:
            angle = _uniform(n, -self.degrees, self.degrees, g, device)
        angle = torch.where(_coin(n, self.p, g, device), angle, torch.zeros_like(angle))
        return {"angle": angle}

    def differ(self, p, g):
        """Another quarter turn than ``p``'s (uniform over the other three), or for free
        angles one at least ``degrees / 2`` away."""
        angle = p["angle"]
        if self.quarter:
            shift = torch.randint(1, 4, angle.shape, generator=g, device=angle.device).float() * 90.0
            return {"angle": (angle + shift) % 360.0}
        away = _uniform(len(angle), self.degrees / 2, self.degrees, g, angle.device)
        sign = torch.where(_coin(len(angle), 0.5, g, angle.device), 1.0, -1.0)
        return {"angle": angle + sign * away}

    def apply(self, x, p):
        if self.quarter:  # exact pixel permutations, no resampling blur
            out = x.clone()
            k = (p["angle"] / 90).round().long() % 4
            for turns in (1, 2, 3):
                m = k == turns
                if m.any():
                    out[m] = torch.rot90(x[m], turns, dims=(2, 3))
            return out
        a = torch.deg2rad(p["angle"]).to(x.dtype)
        theta = torch.zeros(len(x), 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def needs_rgb(x: torch.Tensor, what: str) -> None:
    """Colour ops mean something for RGB only: a clear error for images of other channel counts."""
    if x.shape[1] != 3:
        raise ValueError(f"{what} needs RGB images (3 channels), got {x.shape[1]} channel(s): use a recipe without "
                         "colour ops (views.name crop) for images of other channel counts")


def _gray(x):
    needs_rgb(x, "a grey conversion (grayscale, Sobel)")
    r, g, b = GREY_WEIGHTS
    return r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3]


class ColorJitter(Op):
    """Brightness, contrast, saturation and hue jitter with probability ``p`` (SimCLR: strength s gives
    0.8s, 0.8s, 0.8s, 0.2s, p = 0.8). The four are linear in RGB, so they compose into one affine map per
    image (brightness, contrast about the mean grey, saturation about the pixel's grey, a hue rotation
    about the grey axis), applied at once and clamped once; torchvision clamps after each and shifts hue in HSV."""

    name = "color"

    def __init__(self, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, p: float = 0.8):
        self.b, self.c, self.s, self.h, self.p = brightness, contrast, saturation, hue, p

    def sample(self, n, g, device):
        on = _coin(n, self.p, g, device)
        one = torch.ones(n, device=device)
        factor = lambda v: torch.where(on, _uniform(n, max(0.0, 1 - v), 1 + v, g, device), one)  # noqa: E731
        hue = torch.where(on, _uniform(n, -self.h, self.h, g, device), torch.zeros(n, device=device))
        return {"brightness": factor(self.b), "contrast": factor(self.c), "saturation": factor(self.s), "hue": hue}

    def differ(self, p, g):
        """Jitter always on, brightness/contrast/saturation drawn afresh, and a hue between ``hue / 2`` and
        ``hue`` turns from ``p``'s, either way round the circle."""
        n, device = len(p["hue"]), p["hue"].device
        fresh = {k: _uniform(n, max(0.0, 1 - v), 1 + v, g, device)
                 for k, v in (("brightness", self.b), ("contrast", self.c), ("saturation", self.s))}
        away = _uniform(n, self.h / 2, self.h, g, device)
        sign = torch.where(_coin(n, 0.5, g, device), 1.0, -1.0)
        hue = torch.remainder(p["hue"] + sign * away + 0.5, 1.0) - 0.5  # hue turns, wrapped to [-1/2, 1/2)
        return {**fresh, "hue": hue}

    def apply(self, x, p):
        needs_rgb(x, "colour jitter")
        b, c, s = (p[k].float()[:, None, None] for k in ("brightness", "contrast", "saturation"))
        grey_row = torch.tensor(GREY_WEIGHTS, device=x.device).expand(3, 3)  # G @ rgb = grey in every channel
        saturate = s * torch.eye(3, device=x.device) + (1 - s) * grey_row
        matrix = hue_rotation(p["hue"]) @ saturate * (c * b)
        # contrast pulls towards the image's mean grey; G and the hue rotation both keep grey fixed
        mean_grey = x.float().mean(dim=(2, 3)) @ torch.tensor(GREY_WEIGHTS, device=x.device)  # = mean of _gray(x)
        offset = (1 - c[:, :, 0]) * b[:, :, 0] * mean_grey[:, None]
        # out_c = sum_j M_cj x_j + offset_c as three broadcast multiply-adds (a batched 3x3 matmul is slow on CPU)
        m, flat = matrix.to(x.dtype)[..., None], x.flatten(2)[:, None]  # [B, 3, 3, 1], [B, 1, 3, HW]
        out = offset.to(x.dtype)[:, :, None] + m[:, :, 0] * flat[:, :, 0]
        out = out.addcmul_(m[:, :, 1], flat[:, :, 1]).addcmul_(m[:, :, 2], flat[:, :, 2])
        return out.view_as(x).clamp_(0, 1)


class Toggle(Op):
    """An op applied to each image with probability ``p``: whether is its one parameter."""

    def __init__(self, p: float = 0.2):
        self.p = p

    def sample(self, n, g, device):
        return {"apply": _coin(n, self.p, g, device)}

    def differ(self, p, g):
        return {"apply": ~p["apply"]}


class Grayscale(Toggle):
    name = "gray"

    def apply(self, x, p):
        m = p["apply"][:, None, None, None]
        return torch.where(m, _gray(x).expand_as(x), x)


class GaussianBlur(Op):
    """Gaussian blur with sigma ~ U(sigma) applied with probability ``p``; the kernel is
    10% of the image side (SimCLR). One grouped convolution blurs the whole batch."""

    name = "blur"

    def __init__(self, sigma=(0.1, 2.0), p: float = 0.5, kernel_fraction: float = 0.1):
        self.sigma, self.p, self.kernel_fraction = tuple(sigma), p, kernel_fraction

    def sample(self, n, g, device):
        return {"apply": _coin(n, self.p, g, device), "sigma": _uniform(n, *self.sigma, g, device)}

    def differ(self, p, g):
        """Blurred where ``p`` is not and not where it is."""
        return {"apply": ~p["apply"], "sigma": _uniform(len(p["sigma"]), *self.sigma, g, p["sigma"].device)}

    def apply(self, x, p):
        b, c, h, w = x.shape
        k = max(3, int(self.kernel_fraction * min(h, w)) // 2 * 2 + 1)
        r = torch.arange(k, device=x.device, dtype=torch.float32) - k // 2
        sigma = torch.where(p["apply"], p["sigma"], torch.full_like(p["sigma"], 1e-3))
        kern = torch.exp(-(r[None] ** 2) / (2 * sigma[:, None] ** 2))
        kern = (kern / kern.sum(1, keepdim=True)).to(x.dtype)  # [B, k]; sigma 1e-3 is the identity
        kern = kern.repeat_interleave(c, 0)
        y = x.reshape(1, b * c, h, w)
        y = F.conv2d(F.pad(y, (k // 2, k // 2, 0, 0), mode="reflect"), kern[:, None, None, :], groups=b * c)
        y = F.conv2d(F.pad(y, (0, 0, k // 2, k // 2), mode="reflect"), kern[:, None, :, None], groups=b * c)
        return y.reshape(b, c, h, w)


class Solarize(Toggle):
    name = "solarize"

    def __init__(self, p: float = 0.2, threshold: float = 0.5):
        super().__init__(p)
        self.threshold = threshold

    def apply(self, x, p):
        m = p["apply"][:, None, None, None]
        return torch.where(m & (x >= self.threshold), 1 - x, x)


class Cutout(Op):
    """Cutout (DeVries & Taylor 2017; SimCLR Fig. 4): a square whose side is a fraction
    U(``side``) of the image side, at a uniform position (it may overhang the border), is
    filled with ``fill``; applied with probability ``p``."""

    name = "cutout"

    def __init__(self, side=(0.25, 0.5), p: float = 1.0, fill: float = 0.0):
        self.side, self.p, self.fill = tuple(side), p, fill

    def sample(self, n, g, device):
        side = _uniform(n, *self.side, g, device)
        return {"apply": _coin(n, self.p, g, device), "side": side,
                "cy": _uniform(n, 0, 1, g, device), "cx": _uniform(n, 0, 1, g, device)}

    def apply(self, x, p):
        h, w = x.shape[-2:]
        ys = (torch.arange(h, device=x.device, dtype=torch.float32) + 0.5) / h  # pixel centres in [0, 1]
        xs = (torch.arange(w, device=x.device, dtype=torch.float32) + 0.5) / w
        half = p["side"][:, None] / 2
        in_y = (ys[None] - p["cy"][:, None]).abs() < half  # [B, H]
        in_x = (xs[None] - p["cx"][:, None]).abs() < half  # [B, W]
        box = in_y[:, :, None] & in_x[:, None, :] & p["apply"][:, None, None]
        return torch.where(box[:, None], torch.full_like(x, self.fill), x)


SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))


class Sobel(Toggle):
    """Sobel filtering (SimCLR Fig. 4) with probability ``p``: the grey image's gradient magnitude
    sqrt(G_x^2 + G_y^2) (3x3 kernels, replicated borders) over its largest value 4 sqrt 2, in all three
    channels: every colour gone, edges kept."""

    name = "sobel"

    def __init__(self, p: float = 1.0):
        super().__init__(p)

    def apply(self, x, p):
        kx = torch.tensor(SOBEL_X, device=x.device, dtype=x.dtype)
        kernels = torch.stack([kx, kx.t()])[:, None]  # [2, 1, 3, 3]: G_x, G_y
        grad = F.conv2d(F.pad(_gray(x), (1, 1, 1, 1), mode="replicate"), kernels)
        edges = (grad.pow(2).sum(1, keepdim=True).sqrt() / (4 * math.sqrt(2))).expand_as(x)
        return torch.where(p["apply"][:, None, None, None], edges, x)


class GaussianNoise(Op):
    """Additive Gaussian noise of per-image std U(``sigma``), clamped to [0, 1], with probability ``p``. The
    noise is drawn in ``sample`` (a parameter another view can reuse), so the op knows the image ``size``."""

    name = "noise"

    def __init__(self, size: int, sigma=(0.05, 0.2), p: float = 1.0):
        self.size, self.sigma, self.p = size, tuple(sigma), p

    def sample(self, n, g, device):
        sigma = torch.where(_coin(n, self.p, g, device), _uniform(n, *self.sigma, g, device),
                            torch.zeros(n, device=device))
        return {"sigma": sigma, "noise": torch.randn(n, 3, self.size, self.size, generator=g, device=device)}

    def apply(self, x, p):
        if x.shape[-2:] != p["noise"].shape[-2:]:
            raise ValueError(f"noise was drawn for {self.size}-px images, got {tuple(x.shape[-2:])}")
        return (x + p["sigma"].to(x.dtype)[:, None, None, None] * p["noise"].to(x.dtype)).clamp(0, 1)
