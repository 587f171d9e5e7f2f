"""Every corruption changes images more as its severity grows."""
import pytest
import torch
import torch.nn.functional as F

from mvssl.eval.corruptions import CORRUPTIONS, SEVERITIES, corrupt


def natural_images(n: int = 6, size: int = 32, seed: int = 0, shapes: int = 8) -> torch.Tensor:
    """Smooth colour fields under flat rectangles at random places: edges and flat regions, like photos."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g) * 0.6 + 0.1
    x = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    ar = torch.arange(size)
    for _ in range(shapes):
        y0, x0 = torch.randint(0, size, (2, n, 1, 1), generator=g)
        h, w = torch.randint(2, size // 2, (2, n, 1, 1), generator=g)
        inside = (ar[:, None] >= y0) & (ar[:, None] < y0 + h) & (ar >= x0) & (ar < x0 + w)
        x = torch.where(inside[:, None], torch.rand(n, 3, 1, 1, generator=g), x)
    return (x * 255).round().to(torch.uint8)


@pytest.mark.parametrize("size", [16, 32, 96])
@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corruption_grows_with_severity(name, size):
    images = natural_images(size=size)
    diffs = []
    for s in SEVERITIES:
        out = corrupt(images, name, s, torch.Generator().manual_seed(0))
        assert out.dtype == torch.uint8 and out.shape == images.shape
        diffs.append(float((out.float() - images.float()).abs().mean()))
    assert diffs[0] > 0
    assert all(b > a for a, b in zip(diffs, diffs[1:])), diffs


def test_noise_is_seeded_and_bad_arguments_fail():
    images = natural_images(2)
    a = corrupt(images, "gaussian_noise", 3, torch.Generator().manual_seed(1))
    assert torch.equal(a, corrupt(images, "gaussian_noise", 3, torch.Generator().manual_seed(1)))
    assert not torch.equal(a, corrupt(images, "gaussian_noise", 3, torch.Generator().manual_seed(2)))
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(images, "fog", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(images, "contrast", 6)


def test_brightness_keeps_hue_and_lifts_black():
    images = torch.tensor([[[[100]], [[50]], [[0]]], [[[0]], [[0]], [[0]]]], dtype=torch.uint8)
    out = corrupt(images, "brightness", 1).float()
    assert out[0, 0, 0, 0] / out[0, 1, 0, 0] == pytest.approx(2.0, abs=0.05) and out[0, 2, 0, 0] == 0
    assert out[1].flatten().tolist() == [round(0.1 * 255)] * 3
