import itertools

import pytest
import torch

from mvssl.data import FACTORS, ColorfulMovingMNIST


def test_item_format_and_determinism(cmnist16):
    image, factors = cmnist16[5]
    assert image.dtype == torch.uint8 and image.shape == (3, 16, 16)
    assert set(factors) == {"digit", "background", "position"}
    assert 0 <= factors["digit"] < 10 and 0 <= factors["background"] < 10
    y, x = factors["position"]
    assert 0 <= y <= 8 and 0 <= x <= 8
    again = ColorfulMovingMNIST(split="train", seed=0, image_size=16, digit_size=8)
    assert torch.equal(again[5][0], image)
    other_seed = ColorfulMovingMNIST(split="train", seed=1, image_size=16, digit_size=8)
    assert not torch.equal(torch.stack([other_seed[i][0] for i in range(20)]),
                           torch.stack([cmnist16[i][0] for i in range(20)]))


def test_splits_have_disjoint_digit_instances_and_all_classes():
    train = ColorfulMovingMNIST(split="train", image_size=16, digit_size=8)
    test = ColorfulMovingMNIST(split="test", image_size=16, digit_size=8)
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    tr = {bytes(d.numpy().tobytes()) for d in train.digits}
    te = {bytes(d.numpy().tobytes()) for d in test.digits}
    assert not tr & te


def test_render_composites_white_digit_over_background_crop(cmnist16):
    ds = cmnist16
    f = ds._frames.index(torch.arange(3))
    frames = ds.render(f)
    for b in range(3):
        py, px = f.position[b].tolist()
        cy, cx = f.crop[b].tolist()
        crop = ds.backgrounds[f.background_index[b], cy:cy + 16, cx:cx + 16].permute(2, 0, 1)
        digit = ds.digits[f.digit_index[b]]
        box = frames[b, :, py:py + 8, px:px + 8]
        full = digit == 255
        assert torch.all(box[:, full] == 255)
        empty = digit == 0
        assert torch.equal(box[:, empty], crop[:, py:py + 8, px:px + 8][:, empty])
        outside = torch.ones(16, 16, dtype=torch.bool)
        outside[py:py + 8, px:px + 8] = False
        assert torch.equal(frames[b][:, outside], crop[:, outside])


@pytest.mark.parametrize("shared", [s for r in range(1, 4) for s in itertools.combinations(FACTORS, r)])
def test_factor_shared_pairs_keep_exactly_the_requested_factors(cmnist16, shared):
    g = torch.Generator().manual_seed(3)
    idx = torch.arange(200)
    a, b = cmnist16.pair(idx, shared, g)
    assert torch.equal(a.digit_index, idx)
    same = {
        "digit": a.digit_index == b.digit_index,
        "background": (a.background_index == b.background_index) & (a.crop == b.crop).all(1),
        "position": (a.position == b.position).all(1),
    }
    for factor in FACTORS:
        if factor in shared:
            assert same[factor].all(), factor
        else:  # drawn afresh: equal only by chance
            assert same[factor].float().mean() < 0.2, factor
    fa, fb = cmnist16.factors(a), cmnist16.factors(b)
    if "digit" in shared:
        assert torch.equal(fa["digit"], fb["digit"])


def test_pairs_reject_unknown_factor(cmnist16):
    with pytest.raises(ValueError, match="unknown factor"):
        cmnist16.pair(torch.arange(4), ["colour"], torch.Generator())


def test_sequence_moves_digit_within_the_frame(cmnist16):
    frames, factors = cmnist16.sequence(7, length=30)
    assert frames.shape == (30, 3, 16, 16)
    pos = factors["position"]
    assert pos.min() >= 0 and pos.max() <= cmnist16.max_position
    steps = (pos[1:] - pos[:-1]).abs().sum(1)
    assert (steps > 0).all()  # the digit moves every frame
    assert len(set(factors["digit"].tolist())) == 1 and len(set(factors["background"].tolist())) == 1


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="split"):
        ColorfulMovingMNIST(split="val")
    with pytest.raises(ValueError, match="digit_size"):
        ColorfulMovingMNIST(image_size=16, digit_size=20)


def test_pairs_share_each_factor_with_its_probability(cmnist16):
    g = torch.Generator().manual_seed(5)
    idx = torch.arange(len(cmnist16)).repeat(2)[:4000]
    a, b = cmnist16.pair(idx, ["digit:0.3", "background:0.75", "position:0"], g)
    same_digit = (a.digit_index == b.digit_index).float().mean().item()
    same_bg = ((a.background_index == b.background_index) & (a.crop == b.crop).all(1)).float().mean().item()
    same_pos = (a.position == b.position).all(1).float().mean().item()
    n = len(cmnist16)
    assert abs(same_digit - (0.3 + 0.7 / n)) < 0.03  # shared, or the fresh draw hits the same instance
    assert abs(same_bg - 0.75) < 0.03
    assert same_pos < 0.1
    # a mapping means the same; the pairs that share the background keep its crop too
    a2, b2 = cmnist16.pair(idx[:8], {"background": 1.0}, torch.Generator().manual_seed(1))
    assert torch.equal(a2.crop, b2.crop) and not torch.equal(a2.digit_index, b2.digit_index)
    # sharing "digit" with probability 1 draws exactly what the plain list draws
    x = cmnist16.pair(idx[:50], ["digit"], torch.Generator().manual_seed(2))
    y = cmnist16.pair(idx[:50], ["digit:1"], torch.Generator().manual_seed(2))
    assert all(torch.equal(getattr(x[1], k), getattr(y[1], k)) for k in ("digit_index", "crop", "position"))


@pytest.mark.parametrize("shared, message", [(["digit:1.5"], "outside"), (["digit:x"], "must be a number"),
                                            (["digit", "digit:0.5"], "twice"), (["colour:0.5"], "unknown factor")])
def test_share_probabilities_reject_bad_entries(shared, message):
    from mvssl.data.colorful_mnist import share_probabilities

    with pytest.raises(ValueError, match=message):
        share_probabilities(shared)


def test_config_names_the_key_for_bad_share_probabilities():
    from mvssl.config import ConfigError
    from mvssl.build import resolve

    with pytest.raises(ConfigError, match="views.shared.*outside"):
        resolve({"views": {"shared": ["digit:2"]}})
    assert resolve({"views": {"shared": "digit:0.5,background:0.25"}})["views"]["shared"] == ["digit:0.5",
                                                                                              "background:0.25"]
def test_black_background_and_warm_digits_show_only_the_digit_in_its_own_hue():
    import math

    import torch

    from mvssl.data import ColorfulMovingMNIST

    ds = ColorfulMovingMNIST("train", image_size=16, digit_size=12, backgrounds="black", digit_colors="warm")
    x, f = ds.frames(torch.arange(64))
    assert set(f["background"].tolist()) == {0}
    ink = x.float().amax(1) > 0  # any channel lit
    assert 0.05 < float(ink.float().mean()) < 0.6  # the digit, nothing behind it
    again, _ = ds.frames(torch.arange(64))
    assert torch.equal(x, again)  # a digit instance keeps its colour
    rgb = ds.digit_rgb[:64] / 255
    hue = torch.atan2(math.sqrt(3) * (rgb[:, 1] - rgb[:, 2]), 2 * rgb[:, 0] - rgb[:, 1] - rgb[:, 2]) / (2 * math.pi)
    assert float(hue.min()) >= -0.01 and float(hue.max()) <= 0.3 and float(hue.std()) > 0.03  # ~first quadrant (after clamping), spread
    white = ColorfulMovingMNIST("train", image_size=16, digit_size=12)
    assert torch.equal(white.digit_rgb, torch.full_like(white.digit_rgb, 255.0))
