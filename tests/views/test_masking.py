"""Patch masking: per-pixel patchify, seeded batched masks that record what they hid, bad ratios."""
import pytest
import torch

from mvssl.views.masking import RandomPatchMask, patchify


def test_patchify_puts_every_pixel_where_the_token_order_says():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 8, 12, generator=g)
    patches = patchify(images, 4)  # 2 x 3 grid
    assert patches.shape == (2, 6, 48)
    for n, r, c, i, j, ch in [(0, 0, 0, 0, 0, 0), (1, 1, 2, 3, 1, 2), (0, 1, 0, 2, 3, 1), (1, 0, 1, 1, 0, 0)]:
        assert patches[n, r * 3 + c, (i * 4 + j) * 3 + ch] == images[n, ch, r * 4 + i, c * 4 + j]
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        patchify(images, 5)


def test_masks_hide_the_ratio_of_patches_per_image_and_record_which():
    mask = RandomPatchMask(0.75)
    p = mask.sample(64, 36, torch.Generator().manual_seed(1), "cpu")
    assert p["visible"].shape == (64, 9) and p["masked"].shape == (64, 36)
    assert (p["masked"].sum(1) == 27).all()
    assert not p["masked"].gather(1, p["visible"]).any()  # the visible ones are exactly the unmasked ones
    assert (p["visible"].diff(dim=1) > 0).all()  # ascending: patch order kept
    assert len({tuple(v.tolist()) for v in p["visible"]}) > 60  # drawn per image
    again = mask.sample(64, 36, torch.Generator().manual_seed(1), "cpu")
    assert torch.equal(again["visible"], p["visible"])
    # every patch is hidden about 75% of the time
    many = mask.sample(4000, 36, torch.Generator().manual_seed(2), "cpu")["masked"].float().mean(0)
    assert (many - 0.75).abs().max() < 0.04


def test_apply_keeps_the_visible_tokens_in_order():
    mask = RandomPatchMask(0.5)
    tokens = torch.arange(2 * 6 * 2).reshape(2, 6, 2).float()
    p = mask.sample(2, 6, torch.Generator().manual_seed(0), "cpu")
    kept = mask.apply(tokens, p)
    for n in range(2):
        assert torch.equal(kept[n], tokens[n, p["visible"][n]])


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_ratios_outside_the_open_unit_interval_fail_naming_the_key(ratio):
    with pytest.raises(ValueError, match=r"method.mask_ratio: must be in \(0, 1\)"):
        RandomPatchMask(ratio)
