"""One image file -> uint8 RGB, whatever its mode. PIL's own ``convert("RGB")`` is right for the 8-bit
modes but clips 16-bit, 32-bit and float images at 255 (a 16-bit photo comes out white), ignores EXIF
orientation and shows whatever colour sits under a transparent pixel; the rule used instead for each
mode is in docs/data.md's table (scaled by the real range, EXIF applied, alpha over black)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from ..colour import GREY_WEIGHTS

DECODING_RULES = 2  # raised when a rule changes: cached features of image folders are then recomputed
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}  # PIL's internal premultiplied modes


def _to_eight_bit(values: np.ndarray, mode: str) -> np.ndarray:
    """uint8 of a one-channel 16-bit, 32-bit integer or float image (the rules above)."""
    x = values.astype(np.float64)
    if mode in SIXTEEN_BIT:
        scaled = x * (255.0 / 65535.0)
    else:
        finite = x[np.isfinite(x)]
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        if mode == "F" and lo >= 0 and hi <= 1:
            scaled = x * 255.0
        elif mode == "F" and lo >= 0 and hi <= 255:
            scaled = x
        elif mode == "I" and lo >= 0 and hi <= 65535:
            scaled = x * (255.0 / 65535.0)
        elif hi > lo:
            scaled = (x - lo) * (255.0 / (hi - lo))
        else:
            scaled = np.zeros_like(x)
        scaled = np.where(np.isnan(scaled), 0.0, scaled)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def rgb_array(image) -> np.ndarray:
    """uint8 [H, W, 3] of an opened PIL image of any mode (the rules in the module docstring)."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return np.asarray(image, dtype=np.uint8)
    if mode in SIXTEEN_BIT or mode in ("I", "F"):
        grey = _to_eight_bit(np.asarray(image), mode)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in PREMULTIPLIED:  # already multiplied by alpha: over black is the colour channels as they are
        rgba = np.asarray(image, dtype=np.uint8)
        return np.repeat(rgba[..., :1], 3, axis=2) if mode == "La" else np.ascontiguousarray(rgba[..., :3])
    if image.mode in ("LA", "PA", "RGBA", "La", "RGBa") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
        return ((rgba[..., :3] * rgba[..., 3:] + 127) // 255).astype(np.uint8)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def centre_square(height: int, width: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest centred square of a height x width image: what the
    folder loader and ``Encoder.embed`` both keep of a non-square image before resizing."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def decode_file(path: str, size: int) -> np.ndarray:
    """uint8 [size, size, 3]: the file's centred square (``centre_square``), converted by
    ``rgb_array`` and resized with PIL (bicubic); raises what PIL raises for a bad file."""
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im) or im  # a phone photo stored sideways, upright as it is shown
        top, left, side = centre_square(im.height, im.width)
        if (side, side) != im.size:
            im = im.crop((left, top, left + side, top + side))
        rgb = rgb_array(im)
    if rgb.shape[:2] != (size, size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
    return rgb


# ---------------------------------------------------------------- any number of channels
ARRAY_EXTENSION = ".npy"  # a numpy array: 1 to any number of channels (multispectral bands)


class ChannelMismatch(ValueError):
    """An image whose number of channels is not ``data.channels`` (a ValueError: a stray image
    of another kind is skipped and counted like an unreadable one)."""


def _array_mode(dtype: np.dtype) -> str | None:
    """The PIL mode whose 8-bit rule a numpy dtype follows (None: already uint8)."""
    if dtype == np.uint8:
        return None
    if dtype == np.uint16:
        return "I;16"
    if dtype.kind in "iu":
        return "I"
    if dtype.kind == "f":
        return "F"
    if dtype.kind == "b":
        return "bool"
    raise ValueError(f"an image array of dtype {dtype} (expected integers, floats or booleans)")


def array_bands(values: np.ndarray) -> np.ndarray:
    """uint8 [H, W, C] of an image array: [H, W] (one band), [H, W, C] or [C, H, W] (the first
    axis holds the bands when it is shorter than both others, else the last), scaled to 8 bits by the rules
    of the PIL modes (uint16 like ``I;16``, other integers like ``I``, floats like ``F``,
    over the whole array, so bands keep their relative brightness)."""
    if values.ndim == 2:
        values = values[..., None]
    elif values.ndim != 3:
        raise ValueError(f"an image array has 2 or 3 dimensions, got shape {values.shape}")
    elif values.shape[0] < min(values.shape[1], values.shape[2]):
        values = values.transpose(1, 2, 0)
    mode = _array_mode(values.dtype)
    if mode is None:
        return np.ascontiguousarray(values)
    if mode == "bool":
        return values.astype(np.uint8) * 255
    return _to_eight_bit(values, mode)


def _resize_bands(bands: np.ndarray, size: int) -> np.ndarray:
    """uint8 [size, size, C] of the centred square of uint8 [H, W, C], resized band by band
    with PIL's bicubic filter (for three bands: exactly what resizing the RGB image gives)."""
    top, left, side = centre_square(*bands.shape[:2])
    bands = bands[top:top + side, left:left + side]
    if bands.shape[:2] == (size, size):
        return np.ascontiguousarray(bands)
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(bands[..., c])).resize(
        (size, size), Image.Resampling.BICUBIC), dtype=np.uint8) for c in range(bands.shape[2])], 2)


def decode_array(values: np.ndarray, size: int, channels: int, name: str) -> np.ndarray:
    """uint8 [size, size, channels] of an image array (``array_bands``: [H, W], [H, W, C] or
    [C, H, W]); raises ``ChannelMismatch`` naming both counts when it holds other than
    ``channels`` bands."""
    bands = array_bands(values)
    if bands.shape[2] != channels:
        raise ChannelMismatch(f"image {name} has {bands.shape[2]} channels, but data.channels is {channels}")
    return _resize_bands(bands, size)


def _pil_bands(path, channels: int, name: str) -> np.ndarray:
    """uint8 [H, W, channels] of an image file (EXIF rotation applied): 3 by the RGB rules
    above, 1 the BT.601 luma of those (a grey image as it is), other counts the image's
    bands as stored when it has that many (RGBA or CMYK: 4)."""
    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im) or im
        if channels == 3:
            return rgb_array(im)
        if channels == 1:
            if im.mode in SIXTEEN_BIT or im.mode in ("I", "F"):
                return _to_eight_bit(np.asarray(im), im.mode)[..., None]
            rgb = rgb_array(im).astype(np.float64)
            return np.clip(np.rint(rgb @ np.asarray(GREY_WEIGHTS)), 0, 255).astype(np.uint8)[..., None]
        bands = im.getbands()
        if len(bands) != channels:
            raise ChannelMismatch(f"image {name} has {len(bands)} channels ({im.mode}), but data.channels is "
                                  f"{channels}")
        return np.asarray(im, dtype=np.uint8).reshape(im.height, im.width, channels)


def decode_bands(source, size: int, channels: int = 3, name: str | None = None) -> np.ndarray:
    """uint8 [size, size, channels] of an image file or file object ``source`` (``name``: its
    file name, for the kind: ``.npy`` is an array, anything else an image PIL reads). Three
    channels of a PIL image are exactly ``decode_file``; arrays must hold ``channels`` bands.
    Raises ``ChannelMismatch`` (a ValueError) naming both counts, or what PIL / numpy raise."""
    name = str(name if name is not None else source)
    if name.lower().endswith(ARRAY_EXTENSION):
        return decode_array(np.load(source, allow_pickle=False), size, channels, name)
    if channels == 3:
        return decode_file(source, size)
    return _resize_bands(_pil_bands(source, channels, name), size)
