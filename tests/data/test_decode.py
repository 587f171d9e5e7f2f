"""Every PIL mode an image file can arrive in, written to disk and decoded by the folder
loader, against a per-pixel expectation computed here from the mode's definition (not from
PIL's conversion, which clips 16-bit and float images and drops transparency)."""
import numpy as np
import pytest
from PIL import Image

from mvssl.data.files import decode_image

H, W = 5, 5
rng = np.random.default_rng(0)


def grey3(v: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(v, dtype=np.float64)[..., None], 3, axis=2)


def over_black(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) * alpha[..., None] / 255.0


def ycbcr_to_rgb(y, cb, cr):  # JPEG (JFIF) full-range BT.601
    y, cb, cr = (np.asarray(c, np.float64) for c in (y, cb, cr))
    return np.stack([y + 1.402 * (cr - 128), y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                     y + 1.772 * (cb - 128)], axis=-1)


def lab_grey_to_srgb(lightness_byte):  # neutral a* = b* = 0: L* -> Y -> sRGB, the same under D50 or D65
    lstar = np.asarray(lightness_byte, np.float64) * 100 / 255
    fy = (lstar + 16) / 116
    y = np.where(lstar > 8, fy ** 3, lstar / 903.3)
    return 255 * np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055)


def case(mode: str):
    """(PIL image, file format, expected float RGB [H, W, 3], tolerance)."""
    u8 = lambda *shape: rng.integers(0, 256, (H, W, *shape), dtype=np.uint8)  # noqa: E731
    if mode == "1":
        bits = rng.integers(0, 2, (H, W)).astype(bool)
        return Image.fromarray(bits), "PNG", grey3(bits * 255.0), 0
    if mode == "L":
        v = u8()
        return Image.fromarray(v, "L"), "PNG", grey3(v), 0
    if mode == "LA":
        v = u8(2)
        return Image.fromarray(v, "LA"), "PNG", over_black(grey3(v[..., 0]), v[..., 1]), 1
    if mode in ("P", "PA", "P+transparency"):
        palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
        idx = rng.integers(0, 256, (H, W), dtype=np.uint8)
        im = Image.fromarray(idx, "P")
        im.putpalette(palette.reshape(-1).tolist())
        expect = palette[idx].astype(np.float64)
        if mode == "PA":
            alpha = u8()
            im = Image.merge("PA", (im, Image.fromarray(alpha, "L")))
            im.putpalette(palette.reshape(-1).tolist())
            return im, "TIFF", over_black(expect, alpha), 1
        if mode == "P+transparency":
            im.info["transparency"] = int(idx[0, 0])
            return im, "PNG", np.where((idx == idx[0, 0])[..., None], 0.0, expect), 0
        return im, "PNG", expect, 0
    if mode == "RGB":
        v = u8(3)
        return Image.fromarray(v, "RGB"), "PNG", v.astype(np.float64), 0
    if mode == "RGBA":
        v = u8(4)
        return Image.fromarray(v, "RGBA"), "PNG", over_black(v[..., :3], v[..., 3]), 1
    if mode == "CMYK":
        v = u8(4).astype(np.float64)
        k = 1 - v[..., 3:] / 255
        return Image.frombytes("CMYK", (W, H), u8_bytes(v)), "TIFF", 255 * (1 - v[..., :3] / 255) * k, 1
    if mode == "YCbCr":
        v = u8(3)
        v[..., 1:] = rng.integers(100, 156, (H, W, 2))  # inside the RGB gamut: no clipping in the expectation
        v[..., 0] = rng.integers(60, 196, (H, W))
        return Image.frombytes("YCbCr", (W, H), v.tobytes()), "TIFF", ycbcr_to_rgb(*np.moveaxis(v, -1, 0)), 1
    if mode == "LAB":
        v = np.zeros((H, W, 3), np.uint8)
        v[..., 0] = u8()  # a* = b* = 0: PIL (like TIFF CIELab) stores a* and b* as signed bytes
        return Image.frombytes("LAB", (W, H), v.tobytes()), "TIFF", grey3(lab_grey_to_srgb(v[..., 0])), 2
    if mode in ("I;16", "I;16B"):
        v = rng.integers(0, 65536, (H, W)).astype(np.uint16)
        v[0, 0], v[0, 1] = 0, 65535
        raw = v.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
        return Image.frombytes(mode, (W, H), raw), "PNG" if mode == "I;16" else "TIFF", grey3(v.astype(np.float64) * 255 / 65535), 0.5
    if mode == "I;16 dim":  # 12-bit data in a 16-bit file: dark, as its values say, not stretched
        v = rng.integers(0, 4096, (H, W)).astype(np.uint16)
        return Image.frombytes("I;16", (W, H), v.tobytes()), "PNG", grey3(v.astype(np.float64) * 255 / 65535), 0.5
    if mode == "I":
        v = rng.integers(0, 65536, (H, W)).astype(np.int32)
        return Image.fromarray(v, "I"), "TIFF", grey3(v.astype(np.float64) * 255 / 65535), 0.5
    if mode == "I wide":  # beyond 16 bits: its own min..max
        v = rng.integers(-100000, 100000, (H, W)).astype(np.int32)
        return Image.fromarray(v, "I"), "TIFF", grey3((v - v.min()) * 255.0 / (int(v.max()) - int(v.min()))), 0.5
    if mode == "F":
        v = rng.random((H, W)).astype(np.float32)
        return Image.fromarray(v, "F"), "TIFF", grey3(v.astype(np.float64) * 255), 0.5
    if mode == "F 0..255":
        v = (rng.random((H, W)) * 255).astype(np.float32)
        v[0, 0] = 2.0
        return Image.fromarray(v, "F"), "TIFF", grey3(v), 0.5
    if mode == "F wide":
        v = (rng.standard_normal((H, W)) * 1000).astype(np.float32)
        f = v.astype(np.float64)
        return Image.fromarray(v, "F"), "TIFF", grey3((f - f.min()) * 255 / (f.max() - f.min())), 0.5
    raise AssertionError(mode)


def u8_bytes(v: np.ndarray) -> bytes:
    return v.astype(np.uint8).tobytes()


MODES = ["1", "L", "LA", "P", "P+transparency", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I;16", "I;16B",
         "I;16 dim", "I", "I wide", "F", "F 0..255", "F wide"]


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_decodes_to_the_expected_pixels(mode, tmp_path):
    image, fmt, expect, tolerance = case(mode)
    path = tmp_path / f"image.{fmt.lower()}"
    image.save(path, fmt)
    with Image.open(path) as reread:
        stored = reread.mode
    assert stored == mode.split(" ")[0].split("+")[0], f"{mode} was stored as {stored}: the case tests nothing"
    got = decode_image(str(path), H).permute(1, 2, 0).numpy().astype(np.float64)
    expect = np.clip(expect, 0, 255)
    worst = np.abs(got - expect).max()
    assert worst <= tolerance, f"{mode}: off by {worst} (got\n{got[..., 0]}\nexpected\n{expect[..., 0]})"
    assert got.std() > 0  # never one flat colour (a 16-bit image used to come out all white)


def test_a_sixteen_bit_png_is_not_white_and_keeps_its_order(tmp_path):
    ramp = np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16)
    Image.frombytes("I;16", (W, H), ramp.tobytes()).save(tmp_path / "ramp.png")
    got = decode_image(str(tmp_path / "ramp.png"), H)[0].flatten()
    assert got[0] == 0 and got[-1] == 255 and bool((got[1:] >= got[:-1]).all())


def test_exif_rotation_is_applied(tmp_path):
    v = np.zeros((4, 8, 3), np.uint8)
    v[:, :4] = 255  # left half white, stored landscape
    im = Image.fromarray(v)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    im.save(tmp_path / "sideways.jpg", exif=exif, quality=100)
    # displayed upright: 8 high, 4 wide, the white half on top; its centred square is the middle 4 rows
    with Image.open(tmp_path / "sideways.jpg") as raw:
        assert raw.size == (8, 4)
    got = decode_image(str(tmp_path / "sideways.jpg"), 4)[0].float()
    assert got[:2].mean() > 200 and got[2:].mean() < 55, got
