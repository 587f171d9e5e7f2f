"""Views/second of the batched views engine against a per-image PIL pipeline
(torchvision.transforms with the same SimCLR recipe), side by side in one run,
both on one thread so the figure is per core.

    python benchmarks/views_throughput.py [--size 32] [--batch 512]
"""
from __future__ import annotations

import argparse

import torch
from PIL import Image
from torchvision import transforms as T

from common import machine, timed
from mvssl.views import simclr


def pil_pipeline(size: int, strength: float = 0.5):
    s = strength
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    ])


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {machine()}")
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    pil_images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
    recipe, gen = simclr(args.size), torch.Generator().manual_seed(0)
    pipeline = pil_pipeline(args.size)

    engine = timed(lambda: recipe(images, gen), repeats=5)
    pil = timed(lambda: torch.stack([pipeline(im) for im in pil_images]), warmup=1, repeats=3)
    print(f"SimCLR views at {args.size}x{args.size}, batch {args.batch}, 1 thread:")
    print(f"  views engine (batched torch): {args.batch / engine:10.0f} views/s")
    print(f"  per-image PIL (torchvision):  {args.batch / pil:10.0f} views/s")
    print(f"  speed-up: {pil / engine:.1f}x")


if __name__ == "__main__":
    main()
