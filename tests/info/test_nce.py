"""I_NCE of view pairs: near 0 for independent views, near log K for identical ones,
never above log K; the estimate is the held-out InfoNCE bound, recomputed here."""
import math

import pytest
import torch

from mvssl.info.nce import NCEEstimate, estimate_nce
from mvssl.views import AugmentedViews, identity
from mvssl.views.sources import ChannelSplitViews


def blocky_images(n=384, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, 256, (n, 3, 2, 2), generator=g, dtype=torch.uint8)
    return torch.nn.functional.interpolate(coarse.float(), size=size, mode="nearest").to(torch.uint8)


class PairSource:
    """[image i, image i] (identical) or [image i, a fresh random image] (independent)."""

    def __init__(self, identical: bool):
        self.images, self.identical = blocky_images().float() / 127.5 - 1, identical

    def __len__(self):
        return len(self.images)

    def __call__(self, indices, g):
        x = self.images[indices]
        if self.identical:
            return [x, x.clone()], {}
        other = self.images[torch.randint(len(self.images), (len(indices),), generator=g)]
        return [x, other], {}


FAST = dict(k=16, steps=80, width=8, embed_dim=16, eval_batches=4, lr=3e-3)


def test_identical_views_approach_log_k_and_never_exceed_it():
    est = estimate_nce(PairSource(identical=True), seeds=(0,), **{**FAST, "steps": 150})
    assert all(v <= math.log(16) + 1e-9 for v in est.per_seed)
    assert est.mean > math.log(16) - 0.5, est.summary()


def test_independent_views_are_near_zero():
    est = estimate_nce(PairSource(identical=False), seeds=(0, 1), **FAST)
    assert abs(est.mean) < 0.3, est.summary()
    assert not est.saturated


def test_same_seed_same_estimate_and_bad_inputs_fail():
    a = estimate_nce(PairSource(identical=True), seeds=(3,), **{**FAST, "steps": 5})
    b = estimate_nce(PairSource(identical=True), seeds=(3,), **{**FAST, "steps": 5})
    assert a.per_seed == b.per_seed
    with pytest.raises(ValueError, match="k"):
        estimate_nce(PairSource(identical=True), k=1)
    with pytest.raises(ValueError, match="items"):
        estimate_nce(PairSource(identical=True), k=512, steps=1)


def test_estimate_statistics_and_saturation_flag():
    est = NCEEstimate(k=64, per_seed=[4.1, 4.14, 4.12], steps=1, saturation_margin=0.1)
    assert est.log_k == pytest.approx(math.log(64))
    assert est.mean == pytest.approx(4.12) and est.std == pytest.approx(0.02)
    assert est.saturated and "SATURATED" in est.summary()
    low = NCEEstimate(k=64, per_seed=[1.0], steps=1, saturation_margin=0.1)
    assert not low.saturated and low.std == 0.0
    assert low.to_dict()["log_k"] == pytest.approx(math.log(64))


def test_colour_space_split_pair_runs_with_different_channel_counts():
    images = blocky_images(n=96)
    source = ChannelSplitViews(AugmentedViews(images, {}, [identity()]), "L,ab")
    views, _ = source(torch.arange(4), torch.Generator())
    assert [v.shape[1] for v in views] == [1, 2]
    est = estimate_nce(source, k=8, steps=3, seeds=(0,), width=4, embed_dim=8, eval_batches=1)
    assert est.per_seed[0] <= math.log(8)


def test_a_source_of_other_than_two_views_is_refused():
    images = blocky_images(64)
    for recipes in ([identity()], [identity()] * 3):
        with pytest.raises(ValueError, match=f"I_NCE needs a view pair, the source gave {len(recipes)} views"):
            estimate_nce(AugmentedViews(images, {}, recipes), k=8, steps=1, seeds=(0,))
