"""Image sets for view learning: a fixed unlabelled training pool with a labelled part, the
batches the generator and the encoders train on (drawn with an explicit generator, with random
horizontal flips), and the fixed images the linear probe reads.

- ``SplitShapes`` (``--dataset shapes``, offline): every pixel's colour is

      c(p) = 0.5 + A_LABEL * m(p) * LABEL_COLOUR + A_NUISANCE * n(p) * NUISANCE_COLOUR + noise,

  with m the mask of one of five shapes (the label) at one of two sizes and one of four
  positions (``LAYOUTS`` = 40 configurations, so views that share only m share at most
  log 40 = 3.7 nats, while the texture is continuous), and n a
  texture unique to each image: a sinusoidal grating of random frequency and phase at one of
  four orientations (the nuisance class the probe also reads) plus smooth noise. The two
  colour directions are fixed, linearly independent and each has a large component in R and
  in GB, and in Y and in DbDr: the raw channel splits of both colour spaces share the label
  and the nuisance, and a per-pixel linear map can remove either one from a view. Design
  argument: docs/view_learning.md.
- ``ImageSetViews``: a labelled image dataset (STL-10, CIFAR, ...: ``data.datasets.load_dataset``)
  with random resized crops and flips; the labelled part is ``labelled_fraction`` of each class.
  For STL-10 the pool also holds the 100,000 unlabelled images (label -1), as in the paper;
  the probe reads the labelled training images.

Both refuse, before anything trains, a labelled fraction outside (0, 1] and a labelled part with
fewer than ``MIN_LABELS_PER_CLASS`` images of some class.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.datasets import LabelledImages
from ..data.shapes import SHAPES, SUPERSAMPLE, shape_masks
from ..data.splits import MIN_LABELS_PER_CLASS, per_class_fraction, split_halves  # noqa: F401 (the experiment's refusals)
from ..methods.view_learning import module_device
from ..views.generator import ViewGenerator
from ..views.ops import ResizedCrop
from ..views.sources import LabelledPool

LABEL_COLOUR = (-0.5 / 0.7, 0.5 / 0.7, 1.0)     # a chroma-like direction (blue-green against red)
NUISANCE_COLOUR = (1.0, 0.8, 0.4)               # a warm, luminance-like direction
A_LABEL, A_NUISANCE, PIXEL_NOISE = 0.2, 0.2, 0.02
ORIENTATIONS = 4
SIZES = (0.28, 0.40)      # the shape's radius, as fractions of the side
POSITIONS = (0.4, 0.6)    # its centre on each axis, as fractions of the side (a flip maps one onto the other)
LAYOUTS = len(SHAPES) * len(SIZES) * len(POSITIONS) ** 2


def oracle_generator(space: str):
    """The design argument's oracle views of ``SplitShapes``, set by hand: the raw split of
    ``space`` with one linear coupling, view 1 = z_0 + c . z_{1:2}, where c cancels the
    nuisance colour in view 1 (the least-squares c) and leaves the label colour; view 2 raw."""
    generator = ViewGenerator(space, num_layers=0, linear_layers=1)
    b = generator.front.matrix @ torch.tensor(NUISANCE_COLOUR)
    c = -b[0] * b[1:] / (b[1:] @ b[1:])
    layer = generator.layers[0]
    with torch.no_grad():
        layer.theta.copy_(torch.atanh(c / layer.bound)[None])
    return generator.requires_grad_(False)


def colour_snr(generator, directions: dict) -> dict:
    """How strongly each view carries each colour direction, against the pixel noise: for view
    k with Jacobian J_k (per pixel, at mid-grey) and unit direction d, ||J_k d|| / ||J_k||_F,
    the amplitude of that colour in the view over that of i.i.d. per-channel pixel noise (the
    data's own noise). A view with 0 for a direction has removed it (to first order).
    Returns {"view1": {name: snr}, "view2": {...}}."""
    device = module_device(generator)  # parameters or, for the raw split, the front end's buffers
    units = {name: F.normalize(torch.tensor(d, device=device), dim=0) for name, d in directions.items()}

    def views_of(pixel):
        v = generator.views(pixel[None, :, None, None])
        return v[0].flatten(), v[1].flatten()

    jacobians = torch.autograd.functional.jacobian(views_of, torch.full((3,), 0.5, device=device))
    return {f"view{k + 1}": {name: float((jac @ u).norm() / jac.norm()) for name, u in units.items()}
            for k, jac in enumerate(jacobians)}


def _colour(direction) -> torch.Tensor:
    return torch.tensor(direction, dtype=torch.float32)[None, :, None, None]


def render_split_shapes(n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    """``n`` images uint8 [n, 3, size, size] and their factors {"shape", "texture"} (int64 [n])."""
    labels = torch.randint(len(SHAPES), (n,), generator=g)
    radius = torch.tensor(SIZES)[torch.randint(len(SIZES), (n,), generator=g)] * size
    cy, cx = torch.tensor(POSITIONS)[torch.randint(len(POSITIONS), (2, n), generator=g)] * size
    coords = (torch.arange(size * SUPERSAMPLE, dtype=torch.float32) + 0.5) / SUPERSAMPLE
    masks = shape_masks(coords[None, :, None] - cy[:, None, None], coords[None, None, :] - cx[:, None, None],
                        radius[:, None, None])
    mask = F.avg_pool2d(masks[labels, torch.arange(n)].float()[:, None], SUPERSAMPLE)  # [n, 1, size, size]

    orientation = torch.randint(ORIENTATIONS, (n,), generator=g)
    theta = orientation.float() * math.pi / ORIENTATIONS
    freq = (1.5 + 1.5 * torch.rand(n, generator=g)) / size  # cycles per pixel
    phase = 2 * math.pi * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    along = xx[None] * theta.cos()[:, None, None] + yy[None] * theta.sin()[:, None, None]
    grating = torch.sin(2 * math.pi * freq[:, None, None] * along + phase[:, None, None])
    smooth = F.interpolate(torch.rand(n, 1, 4, 4, generator=g) * 2 - 1, size=(size, size), mode="bicubic",
                           align_corners=False)
    texture = (0.7 * grating[:, None] + 0.3 * smooth).clamp(-1, 1)

    image = (0.5 + A_LABEL * mask * _colour(LABEL_COLOUR) + A_NUISANCE * texture * _colour(NUISANCE_COLOUR)
             + PIXEL_NOISE * torch.randn(n, 3, size, size, generator=g))
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), {"shape": labels, "texture": orientation}


class SplitShapes(LabelledPool):
    task = "shape"
    colour_directions = {"label": LABEL_COLOUR, "nuisance": NUISANCE_COLOUR}  # known here: oracle and colour_snr

    def __init__(self, image_size: int = 16, train_size: int = 4000, probe_size: int = 2000, test_size: int = 1000,
                 labelled_fraction: float = 0.05, seed: int = 0):
        if image_size < 8:
            raise ValueError(f"--image-size: the shapes data needs at least 8 px, got {image_size}")
        g = torch.Generator().manual_seed(1000)  # the same images for every seed
        images, factors = render_split_shapes(train_size, image_size, g)
        super().__init__(images, factors["shape"], labelled_fraction, seed)
        self.probe = {split: render_split_shapes(n, image_size, g) for split, n in (("train", probe_size),
                                                                                      ("test", test_size))}
        self.num_classes = len(SHAPES)

    def probe_sets(self) -> dict:
        """{"train"|"test": (uint8 images, {target: labels})}; the first target is the task."""
        return {split: (x, dict(f)) for split, (x, f) in self.probe.items()}


class ImageSetViews(LabelledPool):
    task = "class"

    def __init__(self, data: LabelledImages, labelled_fraction: float = 0.05, seed: int = 0, crop_scale=(0.3, 1.0)):
        super().__init__(data.train_images, data.train_labels, labelled_fraction, seed)
        self.data = data
        self.num_classes = len(data.classes)
        self.crop = ResizedCrop(data.train_images.shape[-1], scale=crop_scale)

    def augment(self, index: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = super().augment(index, g)
        return self.crop.apply(x, self.crop.sample(len(x), g, x.device)).clamp(0, 1)

    def probe_sets(self) -> dict:
        d = self.data
        labelled = d.train_labels >= 0
        return {"train": (d.train_images[labelled], {"class": d.train_labels[labelled]}),
                "test": (d.test_images, {"class": d.test_labels})}
