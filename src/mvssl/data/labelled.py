"""Decoded images with class labels, split into train and test: what every dataset but
Colorful-Moving-MNIST and streamed folders loads into."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class LabelledImages:
    train_images: torch.Tensor  # uint8 [N, 3, H, W]
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (folder only)

    def __len__(self) -> int:
        return len(self.train_images)
