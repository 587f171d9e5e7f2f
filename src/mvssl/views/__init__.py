"""The views engine: batched augmentations with recorded parameters, recipes, sources."""
from ..colour import ChannelSplit, lab_to_rgb, rgb_to_lab, rgb_to_ydbdr, ydbdr_to_rgb
from .ops import ColorJitter, GaussianBlur, Grayscale, Op, ResizedCrop, Rotate, Solarize
from .randaugment import RandAugment
from .recipes import Recipe, byol, crop, identity, infomin, multicrop, normalize, simclr
from .sources import AugmentedViews, ChannelSplitViews, ClipViews, FactorSharedViews, LabelledPool, ViewSource

__all__ = [
    "Op", "ResizedCrop", "Rotate", "ColorJitter", "Grayscale", "GaussianBlur", "Solarize", "RandAugment",
    "Recipe", "simclr", "infomin", "byol", "crop", "multicrop", "identity", "normalize",
    "ViewSource", "AugmentedViews", "ClipViews", "FactorSharedViews", "ChannelSplitViews", "LabelledPool",
    "ChannelSplit", "rgb_to_lab", "lab_to_rgb", "rgb_to_ydbdr", "ydbdr_to_rgb",
]
