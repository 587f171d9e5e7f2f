"""The views engine: batched augmentations with recorded parameters, recipes, sources."""
from .ops import ColorJitter, GaussianBlur, Grayscale, Op, ResizedCrop, Rotate, Solarize
from .recipes import Recipe, byol, identity, multicrop, normalize, simclr
from .sources import AugmentedViews, FactorSharedViews

__all__ = [
    "Op", "ResizedCrop", "Rotate", "ColorJitter", "Grayscale", "GaussianBlur", "Solarize",
    "Recipe", "simclr", "byol", "multicrop", "identity", "normalize", "AugmentedViews", "FactorSharedViews",
]
