"""What ``Encoder.embed`` accepts, turned into the uint8 [N, 3, H, W] batch it embeds: a tensor or numpy
array of one image or a batch, channels first or last ([N, C, H, W], [N, H, W, C], [C, H, W], [H, W, C],
[H, W]; C = 3, or 1 repeated to RGB; channels first wins when C is in both places), uint8 as it is,
uint16 scaled by 255/65535, floats taken in [0, 1] and other integers in [0, 255] (refused outside, as
is NaN); a PIL image or an image file path (the folder loader's rules); or a list of these, each
centre-cropped square and resized to ``size`` before stacking. Anything else: one ``ValueError``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .data.decode import decode_bands, rgb_array
from .data.files import centre_square_resized

ACCEPTED = ("uint8 or float images as a tensor or numpy array ([N, 3, H, W], [N, H, W, 3], one image [3, H, W], "
            "[H, W, 3] or greyscale [H, W], [N, 1, H, W], [N, H, W, 1]), a PIL image, an image file path, or a list "
            "of these")


def _refuse(what: str) -> ValueError:
    return ValueError(f"embed: {what}; it accepts {ACCEPTED}")


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.uint8:
        return x
    if x.dtype == torch.bool:
        raise _refuse("got a bool array")
    if x.dtype == torch.uint16:
        return (x.double() * (255 / 65535)).round().to(torch.uint8)
    if x.is_floating_point():
        if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
            raise _refuse(f"float values must lie in [0, 1] (got {float(x.nan_to_num().min()):g}.."
                          f"{float(x.nan_to_num().max()):g}{', and NaN' if torch.isnan(x).any() else ''})")
        return (x.double() * 255).round().to(torch.uint8)
    if x.numel() and (x.min() < 0 or x.max() > 255):
        raise _refuse(f"integer values must lie in 0..255 (got {int(x.min())}..{int(x.max())})")
    return x.to(torch.uint8)


def _channels_first(x: torch.Tensor, channels: int = 3) -> torch.Tensor:
    """[N, 3, H, W] from a 2-, 3- or 4-dimensional image array (``channels`` other than 3: [N,
    channels, H, W] from arrays with that many channels first or last)."""
    shape = tuple(x.shape)
    if channels != 3:
        if x.ndim == 3:
            x = x[None]
        if x.ndim == 4 and x.shape[1] == channels:
            return x.contiguous()
        if x.ndim == 4 and x.shape[3] == channels:
            return x.permute(0, 3, 1, 2).contiguous()
        raise ValueError(f"embed: got an array of shape {shape}; this encoder was trained on {channels}-channel "
                         f"images (data.channels): [N, {channels}, H, W], [N, H, W, {channels}] or one such image")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        x = x[None]
    elif x.ndim != 4:
        raise _refuse(f"got an array of shape {shape}")
    if x.shape[1] in (1, 3):
        pass
    elif x.shape[3] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    else:
        raise _refuse(f"got an array of shape {shape}, with neither 1 nor 3 channels first or last (RGBA: drop alpha)")
    return (x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x).contiguous()  # the same pixels, the same features


def _from_array(images, channels: int = 3) -> torch.Tensor:
    if isinstance(images, np.ndarray):  # uint16 too: torch.uint16, scaled by _to_uint8
        if images.dtype.kind not in "uifb":
            raise _refuse(f"got a numpy array of dtype {images.dtype}")
        images = torch.from_numpy(np.ascontiguousarray(images))
    return _channels_first(_to_uint8(images), channels)


def _from_pil_or_path(item) -> torch.Tensor:
    if isinstance(item, (str, os.PathLike)):
        if not Path(item).is_file():
            raise _refuse(f"no such image file {str(item)!r}")
        try:
            with Image.open(item) as im:
                im.load()
                im = ImageOps.exif_transpose(im) or im
                rgb = rgb_array(im)
        except (OSError, ValueError, SyntaxError) as err:
            raise _refuse(f"{str(item)!r} is not a readable image ({err})") from err
    else:
        rgb = rgb_array(item)
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None]


def _bands_of_path(item, size: int, channels: int) -> torch.Tensor:
    """A file of ``channels`` bands (a ``.npy`` array, or an image with that many), decoded as
    the training loader decodes it (``data.decode.decode_bands``, at ``size``)."""
    if not Path(item).is_file():
        raise _refuse(f"no such image file {str(item)!r}")
    try:
        bands = decode_bands(str(item), size, channels)
    except (OSError, ValueError, SyntaxError) as err:
        raise ValueError(f"embed: {str(item)!r}: {err}") from err
    return torch.from_numpy(bands).permute(2, 0, 1)[None]


def _one(item, size: int = 0, channels: int = 3) -> torch.Tensor:
    if isinstance(item, (torch.Tensor, np.ndarray)):
        return _from_array(item, channels)
    if channels != 3 and isinstance(item, (str, os.PathLike)):
        return _bands_of_path(item, size, channels)
    if isinstance(item, (str, os.PathLike, Image.Image)):
        return _from_pil_or_path(item)
    raise _refuse(f"got {type(item).__name__}")


def as_image_batch(images, size: int, channels: int = 3) -> torch.Tensor:
    """uint8 [N, 3, H, W] of anything the module docstring lists; ``size``: the side a list of
    images of different sizes is brought to (the encoder's own). An encoder trained on
    ``channels`` other than 3 takes arrays with that many channels (first or last) and files
    of that many bands (``.npy``), and gives uint8 [N, channels, H, W]."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise _refuse("got an empty list (an empty batch is an array of shape [0, 3, H, W])")
        parts = [_one(item, size, channels) for item in images]
        if len({p.shape[-2:] for p in parts}) > 1:
            parts = [centre_square_resized(p, size) for p in parts]
        return torch.cat(parts)
    return _one(images, size, channels)
