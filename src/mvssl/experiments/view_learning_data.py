"""Image streams for view learning: unlabelled and labelled training batches drawn with an
explicit generator, and the fixed labelled images the linear probe reads.

- ``CMNISTViews``: Colorful-Moving-MNIST. Each training batch renders fresh frames (a random
  training digit instance at a random position over a random background crop), so the stream
  never repeats. The labelled pool is ``labels_per_class`` digit instances of each class
  (rendered over fresh backgrounds each time). Probe targets: the digit (the task) and the
  background class (the nuisance the channel views share).
- ``ImageSetViews``: a labelled image dataset (STL-10, CIFAR, ...: ``data.datasets.load_dataset``)
  with random resized crops and flips; the labelled pool is ``labels_per_class`` training
  images per class. Probe target: the class.
"""
from __future__ import annotations

import torch

from ..data import ColorfulMovingMNIST
from ..data.datasets import LabelledImages
from ..views.ops import ResizedCrop


def per_class_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` items of every class, drawn from ``seed``."""
    if per_class < 1:
        raise ValueError(f"labels_per_class must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {int(c)} has {len(idx)} items, fewer than labels_per_class={per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(picks)


class CMNISTViews:
    task = "digit"

    def __init__(self, image_size: int = 24, digit_size: int = 16, labels_per_class: int = 10, seed: int = 0):
        kw = dict(seed=seed, image_size=image_size, digit_size=digit_size)
        self.train, self.test = ColorfulMovingMNIST("train", **kw), ColorfulMovingMNIST("test", **kw)
        self.labelled_index = per_class_subset(self.train.labels, labels_per_class, seed)
        self.num_classes = 10

    def _render(self, digit_index: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return self.train.render(self.train.draw(digit_index, g)).float() / 255

    def unlabelled(self, n: int, g: torch.Generator) -> torch.Tensor:
        return self._render(torch.randint(len(self.train), (n,), generator=g), g)

    def labelled(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.labelled_index[torch.randint(len(self.labelled_index), (n,), generator=g)]
        return self._render(idx, g), self.train.labels[idx]

    def probe_sets(self) -> dict:
        """{"train"|"test": (uint8 images, {target: labels})}; the first target is the task."""
        out = {}
        for split, ds in (("train", self.train), ("test", self.test)):
            images, factors = ds.frames()
            out[split] = (images, {"digit": factors["digit"], "background": factors["background"]})
        return out


class ImageSetViews:
    task = "class"

    def __init__(self, data: LabelledImages, labels_per_class: int = 10, seed: int = 0, crop_scale=(0.3, 1.0)):
        self.data = data
        self.labelled_index = per_class_subset(data.train_labels, labels_per_class, seed)
        self.num_classes = len(data.classes)
        self.crop = ResizedCrop(data.train_images.shape[-1], scale=crop_scale)

    def _augment(self, index: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x = self.data.train_images[index].float() / 255
        return self.crop.apply(x, self.crop.sample(len(x), g, x.device)).clamp(0, 1)

    def unlabelled(self, n: int, g: torch.Generator) -> torch.Tensor:
        return self._augment(torch.randint(len(self.data.train_images), (n,), generator=g), g)

    def labelled(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.labelled_index[torch.randint(len(self.labelled_index), (n,), generator=g)]
        return self._augment(idx, g), self.data.train_labels[idx]

    def probe_sets(self) -> dict:
        d = self.data
        return {"train": (d.train_images, {"class": d.train_labels}), "test": (d.test_images, {"class": d.test_labels})}
