"""The supervised reference of InfoMin's Table 1: the same encoder architecture trained
with digit cross-entropy on Colorful-Moving-MNIST frames.

``mvssl.train`` trains methods that see views, never labels, so this reference has its
own short loop: each step renders a fresh batch (training digits at new positions over
new background crops, as the contrastive views are drawn) and takes one AdamW step on
cross-entropy through a linear head, with the run config's batch size, learning rate,
weight decay and warm-up + cosine schedule, in fp32 (bf16 autocast where the config's
``trainer.precision`` is ``bf16-mixed``: a study's ``--precision bf16-mixed``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..encoder import Encoder
from ..build import build_dataset
from ..train.optim import build_optimizer, warmup_cosine
from ..views.ops import ResizedCrop
from ..views.recipes import Recipe


def train_supervised_digit(cfg: dict, steps: int, seed: int = 0) -> Encoder:
    """An ``Encoder`` of ``cfg``'s architecture trained ``steps`` steps on digit labels."""
    torch.manual_seed(seed)
    dataset = build_dataset(cfg, "train")
    encoder = Encoder.from_config(cfg)

    def batch(g):
        frames = dataset.draw(torch.randint(len(dataset), (cfg["optim"]["batch_size"],), generator=g), g)
        return encoder.preprocess(dataset.render(frames)), dataset.factors(frames)["digit"]

    return _train_classifier(cfg, encoder, 10, dataset.image_size, steps, batch, seed)


def train_supervised_labels(cfg: dict, images: torch.Tensor, labels: torch.Tensor, steps: int, batch_size: int,
                            seed: int = 0) -> Encoder:
    """An ``Encoder`` of ``cfg``'s architecture trained ``steps`` steps of ``batch_size`` on
    labelled uint8 ``images`` with cross-entropy through a linear head: the supervised
    reference of SimCLR's scale study. Each batch gets a random resized crop + flip
    (``views.min_scale``), the standard supervised augmentation."""
    torch.manual_seed(seed)
    encoder = Encoder.from_config(cfg)
    size = images.shape[-1]
    recipe = Recipe([ResizedCrop(size, scale=(cfg["views"]["min_scale"], 1.0))], encoder.mean.flatten().tolist(),
                    encoder.std.flatten().tolist())

    def batch(g):
        idx = torch.randint(len(images), (batch_size,), generator=g)
        return recipe(images[idx], g)[0], labels[idx]

    return _train_classifier(cfg, encoder, int(labels.max()) + 1, size, steps, batch, seed)


def _train_classifier(cfg: dict, encoder: Encoder, num_classes: int, size: int, steps: int, next_batch,
                      seed: int) -> Encoder:
    """``steps`` AdamW (``cfg``'s optimiser) steps of cross-entropy through a linear head on
    ``encoder``'s backbone, batches from ``next_batch(generator) -> (x, y)``, with the run
    config's warm-up + cosine schedule."""
    model = torch.nn.Sequential(encoder.backbone, torch.nn.LazyLinear(num_classes))
    with torch.no_grad():
        model(torch.zeros(2, 3, size, size))  # materialise the head
    o = cfg["optim"]
    opt = build_optimizer(model, o["name"], o["lr"], o["weight_decay"], o["momentum"])
    warmup = min(o["warmup_steps"], steps // 2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, warmup, steps))
    g = torch.Generator().manual_seed(seed)
    model.train()
    bf16 = cfg["trainer"]["precision"] == "bf16-mixed"
    for _ in range(steps):
        x, y = next_batch(g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return encoder.eval()
