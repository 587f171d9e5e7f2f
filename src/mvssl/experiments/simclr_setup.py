"""What SimCLR's and CMC's claim experiments share: the data options (Colour Shapes offline
by default; CIFAR-10/100 or STL-10 with ``--dataset`` and ``--download``), the base training
config, the checks that run before anything trains, and the per-seed run loop."""
from __future__ import annotations

DATASETS = ("shapes", "cifar10", "cifar100", "stl10")
DEFAULT_SIZE = {"shapes": 16, "cifar10": 32, "cifar100": 32, "stl10": 64}
MIN_SCALE = 0.4  # crops keep most of the shape in a 16-px image


def add_data_arguments(p, steps: int, quick_steps: int, batch_size: int = 64, width: int = 8) -> None:
    p.add_argument("--dataset", default="shapes", choices=DATASETS,
                   help="shapes: Colour Shapes, generated offline (default); the others through torchvision")
    p.add_argument("--root", default="data", help="where a torchvision dataset lives")
    p.add_argument("--download", action="store_true", help="fetch a torchvision dataset if it is missing")
    p.add_argument("--image-size", type=int, help="image side (default 16 for shapes, 32 for CIFAR, 64 for STL-10)")
    p.add_argument("--backbone", default="convnet", help="convnet (default, --width) or resnet18/34/50 for a GPU")
    p.add_argument("--width", type=int, default=width, help=f"ConvNet width (default {width})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"training batch (default {batch_size})")
    p.add_argument("--steps", type=int, help=f"training steps per encoder (default {steps}; --quick {quick_steps})")


def image_size(args) -> int:
    return args.image_size or DEFAULT_SIZE[args.dataset]


def steps(args, default: int, quick: int) -> int:
    n = args.steps or (quick if args.quick else default)
    if n < 10:
        raise ValueError(f"--steps must be at least 10, got {n}")
    return n


def load_and_check(args, batch_sizes) -> int:
    """Load the dataset once (a missing one fails here, before any run folder) and refuse a
    batch larger than it, naming the option. Returns the number of training images."""
    from ..config import ConfigError
    from ..build import resolve
    from ..build import build_dataset

    cfg = resolve({"data": {"dataset": args.dataset, "root": args.root, "download": args.download,
                            "image_size": image_size(args)}, "views": {"name": "simclr"}})
    n = len(build_dataset(cfg))
    too_big = [b for b in batch_sizes if b > n]
    if too_big:
        raise ConfigError(f"--batch-size {too_big} is larger than the training set ({n} images of "
                          f"--dataset {args.dataset}); choose at most {n}")
    return n


def base_config(args, n_steps: int, seed: int, views: dict, method: dict | None = None,
                random_baseline: bool = False, batch_size: int | None = None) -> dict:
    """An ``mvssl train`` config: SimCLR (unless ``method`` says otherwise) on the chosen data
    with a short schedule, one checkpoint at the end, the frozen-encoder evaluation on the
    dataset's own test split (linear probe and kNN)."""
    return {"method": {"name": "simclr", "proj_hidden_dim": 512, **(method or {})},
            "data": {"dataset": args.dataset, "root": args.root, "download": args.download,
                     "image_size": image_size(args)},
            "views": {"min_scale": MIN_SCALE, **views},
            "backbone": {"name": args.backbone, "width": args.width},
            "optim": {"batch_size": batch_size or args.batch_size, "warmup_steps": min(20, n_steps // 5)},
            "trainer": {"max_steps": n_steps, "seed": seed, "checkpoint_every": n_steps, "keep_checkpoints": 1,
                        "er_monitor": False},
            "eval": {"random_baseline": random_baseline}}


def chance_pct(args) -> float:
    from ..data.shapes import SHAPES

    return 100.0 / {"shapes": len(SHAPES), "cifar10": 10, "cifar100": 100, "stl10": 10}[args.dataset]
