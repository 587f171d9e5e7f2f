"""The same SimCLR training step written with lightly (``mvssl bench train --lightly``;
docs/performance.md, "Against lightly"): the same torchvision ResNet, lightly's head, loss and
per-image views (one image at a time, as its DataLoader would make them in the training process),
SGD as in mvssl's bench step. Needs the optional ``lightly`` package."""
from __future__ import annotations

import contextlib

import torch
from PIL import Image
from torch import nn

from ..nn.backbones import torchvision_resnet

VARIANTS = ("fp32", "bf16+cl")
# lightly's SimCLR head (hidden, out) and NT-Xent temperature; mvssl's side of a --lightly run uses the same
LIGHTLY_HEAD, LIGHTLY_TEMPERATURE = (2048, 128), 0.5


def lightly_steps(backbone: str, size: int, batch: int, device: str, variants=VARIANTS) -> dict:
    """``{"lightly VARIANT": step}``; a ValueError naming the package when lightly is missing."""
    try:
        from lightly.loss import NTXentLoss
        from lightly.models.modules import SimCLRProjectionHead
        from lightly.transforms import SimCLRTransform
    except ImportError:
        raise ValueError("--lightly needs the lightly package (pip install lightly)") from None
    if not backbone.startswith("resnet"):
        raise ValueError(f"--lightly compares a ResNet step; --backbone {backbone} is not one")
    pool = torch.randint(0, 256, (max(4 * batch, 512), size, size, 3), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0)).numpy()
    images = [Image.fromarray(a) for a in pool[:batch]]
    transform = SimCLRTransform(input_size=size, gaussian_blur=0.0)  # lightly's CIFAR-10 recipe (no blur at 32 px)
    steps = {}
    for variant in variants:
        torch.manual_seed(0)
        net, dim = torchvision_resnet(backbone, cifar_stem=True)
        model = nn.Sequential(net, SimCLRProjectionHead(dim, *LIGHTLY_HEAD)).to(device).train()
        cl = variant.endswith("+cl")
        if cl:
            model = model.to(memory_format=torch.channels_last)
        loss_fn = NTXentLoss(temperature=LIGHTLY_TEMPERATURE)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        dtype = torch.bfloat16 if variant.startswith("bf16") else None

        def step(model=model, loss_fn=loss_fn, opt=opt, cl=cl, dtype=dtype):
            pairs = [transform(img) for img in images]  # lightly's per-image views
            x0 = torch.stack([p[0] for p in pairs]).to(device)
            x1 = torch.stack([p[1] for p in pairs]).to(device)
            if cl:
                x0, x1 = (x.contiguous(memory_format=torch.channels_last) for x in (x0, x1))
            with torch.autocast(device, dtype=dtype) if dtype else contextlib.nullcontext():
                loss = loss_fn(model(x0), model(x1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        steps[f"lightly {variant}"] = step
    return steps
