"""Views/second of the batched views engine against a per-image PIL pipeline
(torchvision.transforms with the same SimCLR recipe), side by side in the same rounds.
Use ``--threads 1`` for a per-core figure (the PIL pipeline runs on one core anyway)."""
from __future__ import annotations

import torch
from PIL import Image

from ..views import simclr
from ..eval.report import markdown_table
from .common import add_common_arguments, plain_args, describe, interleaved, started, write_report

COMMAND = "views"
HELP = "SimCLR views/s: the batched views engine vs a per-image PIL (torchvision) pipeline"


def pil_pipeline(size: int, strength: float = 0.5, min_scale: float = 0.08):
    """The recipe of ``mvssl.views.simclr`` (crop, flip, colour jitter, grey) in torchvision."""
    from torchvision import transforms as T

    s = strength
    return T.Compose([
        T.RandomResizedCrop(size, scale=(min_scale, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    ])


def add_arguments(parser) -> None:
    parser.add_argument("--size", type=int, default=32, help="image side")
    parser.add_argument("--batch", type=int, default=512, help="images per batch")
    add_common_arguments(parser)


def run(args) -> int:
    info = started(args)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    pil_images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]
    recipe, pipeline = simclr(args.size), pil_pipeline(args.size)
    device_images = images.to(args.device)
    generator = torch.Generator(device=args.device).manual_seed(0)
    seconds = interleaved({"views engine (batched torch)": lambda: recipe(device_images, generator),
                           "per-image PIL (torchvision)": lambda: torch.stack([pipeline(im) for im in pil_images])},
                          repeats=max(args.repeats, 3))
    engine, pil = seconds.values()
    rows = [[name, f"{args.batch / sec:,.0f}"] for name, sec in seconds.items()]
    text = (f"machine: {describe(info)}\nSimCLR views at {args.size}x{args.size}, batch {args.batch}, on "
            f"{args.device}, medians of {max(args.repeats, 3)} interleaved rounds\n\n"
            + markdown_table(["pipeline", "views/s"], rows) + f"\n\nviews engine / PIL: {pil / engine:.1f}x")
    write_report(args.out, "views", text, {"machine": info, "args": plain_args(args), "seconds": seconds,
                                           "speedup": pil / engine})
    return 0
