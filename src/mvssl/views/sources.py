"""View sources: what a training step asks for. ``source(indices, generator)`` returns
the list of views for those dataset indices and their targets (for the online probe)."""
from __future__ import annotations

import torch

from ..data import ColorfulMovingMNIST
from .recipes import Recipe, identity


class InMemoryViews:
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


class FactorSharedViews:
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
    """InfoMin's sequence setting (Fig. 4): view 1 a clip of ``frames`` frames of a moving
    digit, stacked along channels (uint8 frames rendered, then normalised by ``recipe``:
    [B, 3 * frames, H, W]); view 2 one frame sharing ``shared`` with the clip's next frame
    (``ColorfulMovingMNIST.clip_pair``). The targets are view 2's factors: the frame an
    encoder of single frames (and its online probe) sees."""

    def __init__(self, dataset: ColorfulMovingMNIST, shared=("digit",), frames: int = 3):
        super().__init__(dataset, shared)
        self.frames = frames

    def __call__(self, indices: torch.Tensor, generator: torch.Generator):
        clip, second = self.dataset.clip_pair(indices, self.shared, self.frames, generator)
        frames = [self.recipe(self.dataset.render(f), generator)[0] for f in clip]
        views = [torch.cat(frames, 1), self.recipe(self.dataset.render(second), generator)[0]]
        return views, self.dataset.factors(second)


__all__ = ["AugmentedViews", "ClipViews", "FactorSharedViews"]
