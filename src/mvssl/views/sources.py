"""View sources: what a training step asks for. ``source(indices, generator)`` returns
the list of views for those dataset indices and their targets (for the online probe).
Every source subclasses ``ViewSource``."""
from __future__ import annotations

import copy

import torch

from ..data import ColorfulMovingMNIST
from ..data.splits import per_class_fraction, split_halves
from ..colour import ChannelSplit
from .recipes import Recipe, identity


class ViewSource:
    """The one shape of a view source: ``len(source)`` items, ``source.to(device)`` (where the
    views are made or delivered; returns the source) and ``source(indices, generator) ->
    (views, targets)``: a list of view batches of those items and a dict of their targets."""

    def __len__(self) -> int:
        raise NotImplementedError

    def to(self, device) -> "ViewSource":
        raise NotImplementedError

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        raise NotImplementedError


class InMemoryViews(ViewSource):
    """Base of the view sources over uint8 images ``[N, C, H, W]`` and their targets: holds
    and moves them, picks a step's batch; a subclass says how a batch becomes views
    (``make_views``). With ``images=None`` the images are streamed: a loader hands each
    batch to ``views_of`` (``data/streaming.py``)."""

    def __init__(self, images: torch.Tensor | None, targets: dict[str, torch.Tensor]):
        if images is not None and (images.dtype != torch.uint8 or images.ndim != 4):
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def to(self, device):
        self.images = self.images.to(device) if self.images is not None else None
        self.targets = {k: v.to(device) for k, v in self.targets.items()}
        return self

    def make_views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        raise NotImplementedError

    def views_of(self, batch: torch.Tensor, targets: dict[str, torch.Tensor], generator: torch.Generator):
        """The views of uint8 images ``batch`` (already on the device) and their ``targets``."""
        return self.make_views(batch, generator), targets

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        indices = indices.to(self.images.device)
        return self.views_of(self.images[indices], {k: v[indices] for k, v in self.targets.items()}, generator)


class AugmentedViews(InMemoryViews):
    """Views made by augmenting in-memory uint8 images, one recipe per view."""

    def __init__(self, images: torch.Tensor, targets: dict[str, torch.Tensor], recipes: list[Recipe]):
        super().__init__(images, targets)
        self.recipes = recipes

    def make_views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        return [recipe(batch, generator)[0] for recipe in self.recipes]


class FactorSharedViews(ViewSource):
    """Colorful-Moving-MNIST pairs that share exactly the factors in ``shared``
    (InfoMin Table 1), optionally augmented further by ``recipe``."""

    def __init__(self, dataset: ColorfulMovingMNIST, shared=("digit",), recipe: Recipe | None = None):
        self.dataset, self.shared = dataset, tuple(shared)
        self.recipe = recipe or identity()

    def __len__(self) -> int:
        return len(self.dataset)

    def to(self, device) -> "FactorSharedViews":
        self.dataset.to(device)
        return self

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        first, second = self.dataset.pair(indices, self.shared, generator)
        views = [self.recipe(self.dataset.render(f), generator)[0] for f in (first, second)]
        return views, self.dataset.factors(first)


class ClipViews(FactorSharedViews):
    """InfoMin's sequence setting (Fig. 4; ``ColorfulMovingMNIST.clip_pair``): view 1 the clip's ``frames``
    frames stacked along channels [B, 3 * frames, H, W], view 2 one frame; the targets are view 2's factors,
    what an encoder of single frames (and its online probe) sees."""

    def __init__(self, dataset: ColorfulMovingMNIST, shared=("digit",), frames: int = 3):
        super().__init__(dataset, shared)
        self.frames = frames

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        clip, second = self.dataset.clip_pair(indices, self.shared, self.frames, generator)
        frames = [self.recipe(self.dataset.render(f), generator)[0] for f in clip]
        views = [torch.cat(frames, 1), self.recipe(self.dataset.render(second), generator)[0]]
        return views, self.dataset.factors(second)


class ChannelSplitViews(ViewSource):
    """A view source of colour-space splits (CMC, Tian et al. 2019): each image of a one-view
    source (e.g. ``AugmentedViews`` with one recipe) becomes the channel groups of ``views``
    (``"L,ab"`` -> [L view, ab view]), so the pair shares what those channels share."""

    def __init__(self, source: ViewSource, views="L,ab"):
        self.source, self.split = source, ChannelSplit(views)

    def __len__(self) -> int:
        return len(self.source)

    def to(self, device) -> "ChannelSplitViews":
        self.source.to(device)
        self.split.to(device)
        return self

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        views, targets = self.source(indices, generator)
        if len(views) != 1:
            raise ValueError(f"ChannelSplitViews splits one view per image; the source gave {len(views)}")
        return self.split(views[0]), targets


class LabelledPool(ViewSource):
    """View learning's data: a fixed uint8 pool [N, 3, H, W] with ``labels`` (-1: none) and a labelled part,
    ``labelled_fraction`` of each class (from ``seed``) in two fixed halves ("fit", "held"). Hands out float
    RGB batches in [0, 1] with random flips (``augment``), drawn on the host with one CPU generator so a seed
    gives the same batches everywhere: ``unlabelled(n, g)``, ``labelled(n, g, part)``; :meth:`to` names the
    device they are delivered on. As a ``ViewSource``: one view per image and the labels."""

    task = "label"
    device = torch.device("cpu")

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, labelled_fraction: float, seed: int = 0):
        self.pool, self.pool_labels, self.labelled_fraction = images, labels, labelled_fraction
        self.labelled_index = per_class_fraction(labels, labelled_fraction, seed)
        self.labelled_parts = split_halves(self.labelled_index, labels)

    def __len__(self) -> int:
        return len(self.pool)

    def to(self, device) -> "LabelledPool":
        """Deliver batches on ``device`` from now on (the pool itself stays on the host)."""
        self.device = torch.device(device)
        return self

    def for_seed(self, seed: int) -> "LabelledPool":
        """The same pool (and probe images) with the labelled part (and its halves) drawn from
        ``seed``: a training seed's own labelled images. Shares the image tensors."""
        other = copy.copy(self)
        other.labelled_index = per_class_fraction(self.pool_labels, self.labelled_fraction, seed)
        other.labelled_parts = split_halves(other.labelled_index, self.pool_labels)
        return other

    def augment(self, index: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = self.pool[index].float() / 255
        flip = torch.rand(len(x), generator=g) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x)

    def unlabelled(self, n: int, g: torch.Generator) -> torch.Tensor:
        return self.augment(torch.randint(len(self.pool), (n,), generator=g), g).to(self.device)

    def labelled(self, n: int, g: torch.Generator, part: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """From all labelled images, or from one of their two fixed halves (``"fit"``, ``"held"``)."""
        if part is not None and part not in self.labelled_parts:
            raise ValueError(f"unknown labelled part {part!r}; choose from {list(self.labelled_parts)} or None")
        index = self.labelled_index if part is None else self.labelled_parts[part]
        idx = index[torch.randint(len(index), (n,), generator=g)]
        return self.augment(idx, g).to(self.device), self.pool_labels[idx].to(self.device)

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        indices = indices.cpu()
        return [self.augment(indices, generator).to(self.device)], {self.task: self.pool_labels[indices].to(self.device)}


__all__ = ["ViewSource", "InMemoryViews", "AugmentedViews", "ClipViews", "FactorSharedViews", "ChannelSplitViews",
           "LabelledPool"]
