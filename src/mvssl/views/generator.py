"""InfoMin's learned view generator (Tian et al. 2020, Sec. 4.1): an invertible flow on the three colour
channels of every pixel independently (all layers 1x1), so a view is a learned per-pixel colour space,
split into g(X)_1 (channel 0) and g(X)_{2:3} (channels 1-2), the two views CMC contrasts.

    RGB in [0, 1] --fixed front end--> z in [-1, 1]^3 --coupling layers--> y = g(x)

Front end (``space``, linear): ``"rgb"`` scaled to [-1, 1], or ``"ydbdr"`` with each channel scaled
from its sRGB-gamut range; with no coupling layers ``g`` is the raw channel split of that space.
Coupling layers (Dinh et al.) read the conditioning channels x_c with a per-pixel MLP:

    additive (NICE):     y_t = x_t + t(x_c),                  log|det J| = 0
    affine (RealNVP):    y_t = x_t * exp(s(x_c)) + t(x_c),    log|det J| = sum_t s

with s, t = tanh(.) bounded to [-1, 1] per layer, so the adversarial generator cannot lower the
critic's bound by blowing up the views' scale (it did, unbounded). y_c = x_c, so each layer inverts in
closed form. The MLPs' last layers start at zero: an untrained generator *is* the raw colour space.
``forward`` returns log|det dg/dx| summed over pixels, front end included."""
from __future__ import annotations

import torch
from torch import nn

from ..colour import channel_ranges, rgb_to_ydbdr

COLOUR_SPACES = ("rgb", "ydbdr")
COUPLINGS = ("additive", "affine", "mixed")
# (conditioning, transformed) channel sets, cycled through so every channel is transformed
# by, and conditions, the others.
PARTITIONS = (([0], [1, 2]), ([1, 2], [0]), ([2], [0, 1]), ([0, 1], [2]), ([1], [0, 2]), ([0, 2], [1]))

LINEAR_PARTITIONS = (([1, 2], [0]), ([0], [1, 2]))


def _pixel_mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    net = nn.Sequential(nn.Conv2d(cin, hidden, 1), nn.LeakyReLU(0.2), nn.Conv2d(hidden, hidden, 1),
                        nn.LeakyReLU(0.2), nn.Conv2d(hidden, cout, 1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class Coupling(nn.Module):
    """One additive or affine coupling layer over a channel partition (see the module docstring)."""

    def __init__(self, conditioning: list[int], transformed: list[int], affine: bool, hidden: int = 16):
        super().__init__()
        self.cond, self.trans, self.affine = list(conditioning), list(transformed), affine
        self.net = _pixel_mlp(len(self.cond), hidden, len(self.trans) * (2 if affine else 1))

    def _params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.tanh(self.net(x[:, self.cond]))
        return out.chunk(2, 1) if self.affine else (torch.zeros_like(out), out)  # (log s, shift)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_s, shift = self._params(x)
        y = x.clone()
        y[:, self.trans] = x[:, self.trans] * torch.exp(log_s) + shift
        return y, log_s.sum((1, 2, 3))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        log_s, shift = self._params(y)  # y_c = x_c, so the parameters are recomputed exactly
        x = y.clone()
        x[:, self.trans] = (y[:, self.trans] - shift) * torch.exp(-log_s)
        return x


class LinearCoupling(nn.Module):
    """An additive coupling whose shift is linear in the conditioning channels:
    y_t = x_t + W x_c with every entry of W = ``bound`` * tanh(theta) (theta starts at zero, so
    the layer starts as the identity; log|det J| = 0). Unlike the MLP couplings, one such layer
    can already subtract any bounded linear combination of the other channels from a view."""

    def __init__(self, conditioning: list[int], transformed: list[int], bound: float = 4.0):
        super().__init__()
        self.cond, self.trans, self.bound = list(conditioning), list(transformed), bound
        self.theta = nn.Parameter(torch.zeros(len(self.trans), len(self.cond)))

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("tc,bchw->bthw", self.bound * torch.tanh(self.theta).to(x.dtype), x[:, self.cond])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = x.clone()
        y[:, self.trans] = x[:, self.trans] + self._shift(x)
        return y, torch.zeros(len(x), dtype=x.dtype, device=x.device)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        x = y.clone()
        x[:, self.trans] = y[:, self.trans] - self._shift(y)
        return x


class ColourFrontEnd(nn.Module):
    """The fixed linear per-pixel map z = A rgb + b of ``space`` (scaled to [-1, 1])."""

    def __init__(self, space: str = "rgb"):
        super().__init__()
        if space not in COLOUR_SPACES:
            raise ValueError(f"unknown colour space {space!r}; choose from {list(COLOUR_SPACES)}")
        self.space = space
        if space == "rgb":
            lo, hi, matrix = torch.zeros(3), torch.ones(3), torch.eye(3)
        else:  # the conversion is linear: its matrix is its image of the unit basis
            lo, hi = channel_ranges(space).unbind(1)
            matrix = rgb_to_ydbdr(torch.eye(3, dtype=torch.float64)[:, :, None, None])[:, :, 0, 0].t().float()
        scale = 2 / (hi - lo)
        self.register_buffer("matrix", scale[:, None] * matrix, persistent=False)
        self.register_buffer("offset", -lo * scale - 1, persistent=False)
        self.logdet_per_pixel = float(torch.linalg.slogdet(self.matrix.double())[1])

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,bjhw->bihw", self.matrix.to(rgb.dtype), rgb) + self.offset.to(rgb.dtype)[:, None, None]

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        z = z - self.offset.to(z.dtype)[:, None, None]
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.matrix.double()).to(z.dtype), z)


class ViewGenerator(nn.Module):
    """g: RGB [B, 3, H, W] in [0, 1] -> y [B, 3, H, W]; ``views(x)`` gives [y_1, y_{2:3}]. First
    ``linear_layers`` ``LinearCoupling`` layers, cycling through ``([1, 2], [0])`` (view 1 gains a linear
    combination of view 2's channels) and ``([0], [1, 2])``, then ``num_layers`` couplings through
    ``PARTITIONS``, "additive", "affine" or "mixed" (alternating, additive first). With neither: the raw
    colour space, no learnable parameters."""

    def __init__(self, space: str = "rgb", num_layers: int = 6, coupling: str = "mixed", hidden: int = 16,
                 linear_layers: int = 0):
        super().__init__()
        if coupling not in COUPLINGS:
            raise ValueError(f"unknown coupling {coupling!r}; choose from {list(COUPLINGS)}")
        if num_layers < 0 or linear_layers < 0:
            raise ValueError(f"num_layers and linear_layers must be >= 0, got {num_layers}, {linear_layers}")
        self.front = ColourFrontEnd(space)
        self.space, self.coupling = space, coupling
        affine = [coupling == "affine" or (coupling == "mixed" and i % 2 == 1) for i in range(num_layers)]
        linear = [LinearCoupling(*LINEAR_PARTITIONS[i % 2]) for i in range(linear_layers)]
        self.layers = nn.ModuleList(linear + [Coupling(*PARTITIONS[i % len(PARTITIONS)], affine=a, hidden=hidden)
                                              for i, a in enumerate(affine)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"the view generator takes RGB images [B, 3, H, W], got {tuple(x.shape)}")
        y = self.front(x)
        pixels = x.shape[2] * x.shape[3]
        logdet = torch.full((len(x),), self.front.logdet_per_pixel * pixels, dtype=x.dtype, device=x.device)
        for layer in self.layers:
            y, ld = layer(y)
            logdet = logdet + ld
        return y, logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return self.front.inverse(y)

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        y, _ = self(x)
        return [y[:, :1], y[:, 1:]]

