"""The one view-source shape: every source subclasses ``ViewSource``; view learning's pool is
a view source too (one view per image: the pool image, flipped or not, and its label)."""
import pytest
import torch

from mvssl.views.looc import LeaveOneOutViews
from mvssl.views.patches import PatchPairViews
from mvssl.views.sources import (AugmentedViews, ChannelSplitViews, ClipViews, FactorSharedViews, InMemoryViews,
                                 LabelledPool, ViewSource)


def test_every_view_source_subclasses_the_one_base_whose_methods_a_subclass_must_give():
    for cls in (InMemoryViews, AugmentedViews, PatchPairViews, LeaveOneOutViews, FactorSharedViews, ClipViews,
                ChannelSplitViews, LabelledPool):
        assert issubclass(cls, ViewSource), cls
    base = ViewSource()
    for call in (lambda: len(base), lambda: base.to("cpu"), lambda: base(torch.arange(2), torch.Generator())):
        with pytest.raises(NotImplementedError):
            call()


def test_the_pool_as_a_view_source_gives_each_image_flipped_or_not_and_its_label():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 6, 6), generator=g, dtype=torch.uint8)
    labels = torch.arange(40) % 4
    pool = LabelledPool(images, labels, labelled_fraction=0.5, seed=0)
    assert len(pool) == 40 and pool.to("cpu") is pool
    indices = torch.tensor([3, 17, 17, 38])
    views, targets = pool(indices, torch.Generator().manual_seed(1))
    assert len(views) == 1 and views[0].shape == (4, 3, 6, 6) and views[0].dtype == torch.float32
    assert set(targets) == {"label"} and torch.equal(targets["label"], labels[indices])
    for view, i in zip(views[0], indices):
        image = images[i].float() / 255
        assert torch.equal(view, image) or torch.equal(view, image.flip(2))
    again, _ = pool(indices, torch.Generator().manual_seed(1))
    assert torch.equal(again[0], views[0])  # the flips follow the generator
    flipped = [not torch.equal(v, images[i].float() / 255) for v, i in zip(pool(torch.arange(40), g)[0][0], range(40))]
    assert 0 < sum(flipped) < 40
