"""Colour: batched, differentiable colour-space conversions (CMC's channel-split views, the view
generator's front end), hue rotations and the normalisation every recipe applies. A leaf: it imports
nothing of mvssl, so ``data``, ``views`` and ``nn`` all use it. Conversions map float [B, 3, H, W]
to float [B, 3, H, W], RGB being sRGB in [0, 1]: Lab (CIE 1976, D65, 2-degree observer; L in
[0, 100]), YDbDr (SECAM, linear) and HSV (hexcone; H in [0, 1), 0 for greys). ``ChannelSplit``
makes CMC's channel views (``"L,ab"``, ``"L,a,b,S"``: from one space or several, each channel scaled
from its range over the sRGB cube to [-1, 1]), or for any number of channels views by channel index
(``"0-5,6-12"``, ``"0+3,1-2"``)."""
from __future__ import annotations

import functools
import math
import re

import torch
from torch import nn

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)  # every recipe's normalisation of RGB in [0, 1]
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # luma (ITU-R BT.601): grey = w . RGB
# sRGB (linear) -> XYZ for the D65 white point (IEC 61966-2-1)
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]], dtype=torch.float64)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_RGB_TO_YDBDR = torch.tensor([[0.299, 0.587, 0.114],
                              [-0.450, -0.883, 1.333],
                              [-1.333, 1.116, 0.217]], dtype=torch.float64)
_DELTA = 6 / 29  # the CIE f(t) switches from the cube root to a line at t = delta^3

SPACES = {"lab": ("L", "a", "b"), "ydbdr": ("Y", "Db", "Dr"), "hsv": ("H", "S", "V")}


def _mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix.to(x.device, x.dtype), x)


def rgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB transfer curve."""
    x = x.clamp(0, 1)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_rgb(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(0, 1)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """L = 116 f(Y/Yn) - 16, a = 500 (f(X/Xn) - f(Y/Yn)), b = 200 (f(Y/Yn) - f(Z/Zn)) with
    f(t) = t^(1/3) above delta^3 and t / (3 delta^2) + 4/29 below (delta = 6/29)."""
    xyz = _mix(rgb_to_linear(x), _RGB_TO_XYZ) / _D65_WHITE.to(x.device, x.dtype)[:, None, None]
    # the cube-root branch only ever sees t > delta^3, so its gradient stays finite
    f = torch.where(xyz > _DELTA ** 3, xyz.clamp(min=_DELTA ** 3) ** (1 / 3), xyz / (3 * _DELTA ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def lab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_lab`` (colours outside the sRGB gamut are clipped)."""
    L, a, b = x.unbind(1)
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], 1)
    xyz = torch.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4 / 29))
    xyz = xyz * _D65_WHITE.to(x.device, x.dtype)[:, None, None]
    return linear_to_rgb(_mix(xyz, torch.linalg.inv(_RGB_TO_XYZ)))


def rgb_to_ydbdr(x: torch.Tensor) -> torch.Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B, Db = -0.450 R - 0.883 G + 1.333 B,
    Dr = -1.333 R + 1.116 G + 0.217 B."""
    return _mix(x, _RGB_TO_YDBDR)


def ydbdr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return _mix(x, torch.linalg.inv(_RGB_TO_YDBDR))


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """V = max(R, G, B), S = (V - min(R, G, B)) / V (0 at black), H = the hexcone hue / 6:
    (G - B) / d mod 6 where R is the max, (B - R) / d + 2 where G is, (R - G) / d + 4 where B
    is (d = V - min; 0 for greys)."""
    x = x.clamp(0, 1)
    r, g, b = x.unbind(1)
    value, low = x.amax(1), x.amin(1)
    d = value - low
    safe = d.clamp(min=1e-8)
    hue = torch.where(value == r, ((g - b) / safe) % 6, torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(d > 0, hue / 6, torch.zeros_like(hue))
    return torch.stack([hue, d / value.clamp(min=1e-8), value], 1)


def hue_rotation(shift: torch.Tensor) -> torch.Tensor:
    """[B, 3, 3] rotations of RGB space about the grey axis by ``shift`` turns. A hue
    shift of h in HSV is close to this rotation by h and costs one batched matmul."""
    theta = 2 * math.pi * shift.float()
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    u = torch.full((3,), 1 / math.sqrt(3), device=shift.device)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], device=shift.device)
    eye = torch.eye(3, device=shift.device)
    return cos * eye + sin * cross + (1 - cos) * torch.outer(u, u)


CONVERT = {"lab": rgb_to_lab, "ydbdr": rgb_to_ydbdr, "hsv": rgb_to_hsv}


@functools.lru_cache(maxsize=None)
def channel_ranges(space: str) -> torch.Tensor:
    """[3, 2] (min, max) of each channel of ``space`` over a 33^3 grid of the sRGB cube
    (the extremes lie on the cube's surface, which the grid samples finely)."""
    t = torch.linspace(0, 1, 33, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(t, t, t, indexing="ij")).reshape(1, 3, -1, 1)
    out = CONVERT[space](grid).reshape(3, -1)
    return torch.stack([out.min(1).values, out.max(1).values], 1).float()


def parse_views(views) -> tuple[tuple[str, ...], list[list[int]]]:
    """``"L,ab"`` (or ``["L", "ab"]``) -> (("lab",), [[0], [1, 2]]): the colour spaces the views
    read, in order of first use, and each view's channels as indices into those spaces'
    channels laid end to end (``"L,a,b,S"`` -> (("lab", "hsv"), [[0], [1], [2], [4]])).
    Channel names: L, a, b (Lab), Y, Db, Dr (YDbDr), H, S, V (HSV); at least two views, no
    channel twice."""
    if isinstance(views, str):
        views = views.split(",")
    if all(re.fullmatch(r"\d+(-\d+)?(\+\d+(-\d+)?)*", str(v).strip()) for v in views):
        return (), band_groups(views)
    names = {name: (space, i) for space, chans in SPACES.items() for i, name in enumerate(chans)}
    token = re.compile("|".join(sorted(names, key=len, reverse=True)))
    groups = []
    for view in views:
        found = token.findall(view)
        if "".join(found) != view or not found:
            raise ValueError(f"cannot read view {view!r}: use channel names {list(names)}")
        groups.append(found)
    flat = [c for g in groups for c in g]
    if len(set(flat)) != len(flat) or len(groups) < 2:
        raise ValueError(f"views {list(views)} must be at least two channel groups with no channel twice "
                         f"(channels {list(names)})")
    spaces = tuple(dict.fromkeys(names[c][0] for c in flat))
    return spaces, [[3 * spaces.index(names[c][0]) + names[c][1] for c in g] for g in groups]


def band_groups(views) -> list[list[int]]:
    """Channel-index views of images with any number of channels: ``"0-5,6-12"`` -> [[0..5],
    [6..12]]; a view joins ranges and single channels with ``+`` (``"0+3,1-2"``). At least two
    views, no channel twice (a channel may be left out)."""
    groups = []
    for view in views:
        group = []
        for part in str(view).strip().split("+"):
            lo, _, hi = part.partition("-")
            lo, hi = int(lo), int(hi or lo)
            if hi < lo:
                raise ValueError(f"cannot read view {view!r}: the range {part} runs backwards")
            group += range(lo, hi + 1)
        groups.append(group)
    flat = [c for g in groups for c in g]
    if len(set(flat)) != len(flat) or len(groups) < 2:
        raise ValueError(f"views {list(views)} must be at least two channel groups with no channel twice")
    return groups


class ChannelSplit(nn.Module):
    """Normalised RGB views -> colour space(s) -> one tensor per channel group, each channel
    scaled from its sRGB-gamut range to [-1, 1].

    Images reach the method normalised by the recipe (``mean``, ``std``); undoing that here,
    inside the model, keeps one preprocessing for every method and for ``Encoder.embed``.
    The conversion runs in float32 outside autocast (the cube root is poorly conditioned in bf16).
    """

    def __init__(self, views, mean=MEAN, std=STD):
        super().__init__()
        self.spaces, self.groups = parse_views(views)
        if not self.spaces:  # channel indices: the normalised channels as they are, any number of them
            return
        lo, hi = torch.cat([channel_ranges(space) for space in self.spaces]).unbind(1)
        for name, value in (("mean", mean), ("std", std), ("low", lo), ("high", hi)):
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32)[:, None, None], persistent=False)

    @property
    def channels(self) -> list[int]:
        return [len(g) for g in self.groups]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not self.spaces:
            if max(max(g) for g in self.groups) >= x.shape[1]:
                raise ValueError(f"channel views {self.groups} need {max(max(g) for g in self.groups) + 1} channels, "
                                 f"the images have {x.shape[1]}")
            return [x[:, g] for g in self.groups]
        if x.shape[1] != 3:
            raise ValueError(f"colour-space views ({', '.join(self.spaces)}) need RGB images (3 channels), got "
                             f"{x.shape[1]}: name channel indices instead, such as 0-5,6-12")
        with torch.autocast(x.device.type, enabled=False):
            rgb = x.float() * self.std + self.mean
            c = torch.cat([CONVERT[space](rgb) for space in self.spaces], 1)
            c = (c - self.low) / (self.high - self.low) * 2 - 1
        return [c[:, g] for g in self.groups]
