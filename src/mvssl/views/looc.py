"""Leave-one-out views (LooC, Xiao et al. 2021, Sec. 3 and Fig. 2), in the order [q, k_0, k_1, ..., k_n],
for augmentations a_1..a_n applied after an independent random crop + flip: the query q draws every
parameter; k_0 draws each a_j with a value different from q's; k_i reuses q's parameters of a_i
(``reuse``) and draws every other a_j different from q's, so q and k_i differ in everything but a_i.

"Different" (``Op.differ``) keeps the loss's negatives honest: in space Z_i every key but k_i is a
negative of q, and one that happened to share q's value of a_i (1 in 4 for an independent four-way
rotation) would be a positive in disguise: about 0.75 per space drawn independently, none drawn to differ."""
from __future__ import annotations

import torch

from .ops import ColorJitter, GaussianBlur, Grayscale, Op, Params, ResizedCrop, Rotate
from .recipes import Recipe
from .sources import InMemoryViews

# Each augmentation a_i is one op of the views engine; its op name is what k_i reuses.
# Colour jitter covers the whole hue circle (hue 0.5 turns, brightness/contrast/saturation
# 0.4 as in MoCo v2): an invariant space then cannot tell hues apart, which is what the
# colour-dependent space has to keep. Rotation is LooC's four-way rotation; blur is the
# texture augmentation (Gaussian blur, sigma 0.1-2 px, p = 0.5).
AUGMENTATIONS = {
    "color": lambda: ColorJitter(0.4, 0.4, 0.4, 0.5, p=0.8),
    "rotate": lambda: Rotate(quarter=True),
    "blur": lambda: GaussianBlur(sigma=(0.1, 2.0), p=0.5),
    "gray": lambda: Grayscale(p=0.2),
}
DEFAULT_AUGMENTATIONS = ("color", "rotate", "blur")


def augmentation_ops(names) -> list[Op]:
    names = list(names)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown or not names:
        raise ValueError(f"views.augmentations: {unknown or names} is not a non-empty list of "
                         f"{sorted(AUGMENTATIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"views.augmentations: {names} names an augmentation twice")
    ops = [AUGMENTATIONS[n]() for n in names]
    for name, op in zip(names, ops):
        assert op.name == name, f"augmentation {name!r} builds op {op.name!r}"
    return ops


def augmentation_recipe(size: int, augmentations=DEFAULT_AUGMENTATIONS, min_scale: float = 0.08, **norm) -> Recipe:
    """Random resized crop + flip, then every augmentation in ``augmentations`` (all drawn
    independently): one view of LooC, and both views of its MoCo baseline."""
    return Recipe([ResizedCrop(size, scale=(min_scale, 1.0)), *augmentation_ops(augmentations)], **norm)


class LeaveOneOutViews(InMemoryViews):
    """``source(indices, generator) -> ([q, k_0, ..., k_n], targets)`` from in-memory uint8
    images; ``make(images, generator)`` also returns every view's recorded parameters."""

    def __init__(self, images: torch.Tensor, targets: dict[str, torch.Tensor], recipe: Recipe,
                 augmentations=DEFAULT_AUGMENTATIONS):
        super().__init__(images, targets)
        missing = [a for a in augmentations if a not in recipe.op_names]
        if missing:
            raise ValueError(f"augmentations {missing} are not ops of the recipe ({recipe.op_names})")
        self.recipe, self.augmentations = recipe, tuple(augmentations)

    @property
    def n_views(self) -> int:
        return len(self.augmentations) + 2

    def make(self, images: torch.Tensor, generator: torch.Generator):
        """Views [q, k_0, ..., k_n] and their parameters (a dict op name -> params per view)."""
        query, query_params = self.recipe(images, generator)
        views, params = [query], [query_params]
        for shared in (None, *self.augmentations):
            reuse: dict[str, Params] = {} if shared is None else {shared: query_params[shared]}
            differ = {a: query_params[a] for a in self.augmentations if a != shared}
            view, p = self.recipe(images, generator, reuse=reuse, differ=differ)
            views.append(view)
            params.append(p)
        return views, params

    def make_views(self, batch: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        return self.make(batch, generator)[0]


def looc_views(images: torch.Tensor, targets: dict[str, torch.Tensor], size: int,
               augmentations=DEFAULT_AUGMENTATIONS, min_scale: float = 0.08, **norm) -> LeaveOneOutViews:
    return LeaveOneOutViews(images, targets, augmentation_recipe(size, augmentations, min_scale, **norm),
                            augmentations)


__all__ = ["AUGMENTATIONS", "DEFAULT_AUGMENTATIONS", "augmentation_ops", "augmentation_recipe",
           "LeaveOneOutViews", "looc_views"]
