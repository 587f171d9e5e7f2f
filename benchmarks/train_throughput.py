"""Training images/second of a whole SimCLR step (views made in the step included):
fp32 against bf16 autocast + channels_last, measured side by side in one run.

    python benchmarks/train_throughput.py [--backbone resnet18] [--size 32] [--batch 128]
"""
from __future__ import annotations

import argparse
import contextlib

import torch

from common import machine, timed
from mvssl.methods import SimCLR
from mvssl.nn import build_backbone
from mvssl.views import AugmentedViews, simclr


def step_fn(backbone_name: str, width: int, size: int, batch: int, bf16: bool, channels_last: bool):
    torch.manual_seed(0)
    backbone, dim = build_backbone(backbone_name, width, cifar_stem=True)
    model = SimCLR(backbone, dim)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randint(0, 256, (batch * 4, 3, size, size), dtype=torch.uint8)
    source = AugmentedViews(images, {}, [simclr(size), simclr(size)])
    gen = torch.Generator().manual_seed(0)
    idx = torch.arange(batch)

    def step():
        views, _ = source(idx, gen)
        if channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            loss = model(views).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--width", type=int, default=32, help="width of the convnet backbone")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"SimCLR, {args.backbone} (CIFAR stem), {args.size}x{args.size}, batch {args.batch}, 2 views, "
          "views made inside the step")
    results = {}
    for label, bf16, cl in (("fp32", False, False), ("bf16 + channels_last", True, True),
                            ("bf16 (no channels_last)", True, False)):
        sec = timed(step_fn(args.backbone, args.width, args.size, args.batch, bf16, cl), repeats=args.repeats)
        results[label] = args.batch / sec
        print(f"  {label:26s} {sec * 1000:8.1f} ms/step  {results[label]:8.1f} images/s")
    print(f"bf16 + channels_last vs fp32: {results['bf16 + channels_last'] / results['fp32']:.2f}x")


if __name__ == "__main__":
    main()
