"""``mvssl info nce``: I_NCE of a view pair on the training images of a dataset
(Colorful-Moving-MNIST frames by default, or any other ``--dataset`` of ``mvssl train``),
with K, the spread over seeds and the saturation flag; writes nce.json and nce.md."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from ..build import build_dataset, build_view_source, resolve
from ..config import DATASETS, ConfigError, written_config
from ..eta import progress_line
from ..eval.report import markdown_table, write_report
from ..views.sources import ChannelSplitViews
from .nce import estimate_nce

COMMAND = "nce"
HELP = "I_NCE = log K - L_NCE of a view pair (a fresh critic per seed, held-out pairs), mean +- std over seeds"
VIEW_KINDS = ("factor-shared", "simclr", "crop", "infomin", "byol", "patches", "colorspace")


def add_arguments(p) -> None:
    p.add_argument("--views", choices=VIEW_KINDS,
                   help="default: factor-shared on cmnist, simclr on other datasets; factor-shared (--shared), an augmentation recipe applied twice (simclr, crop, infomin, "
                        "byol), patches (--patch-size, --distance) or colorspace (--split)")
    p.add_argument("--shared", default="digit", help="factor-shared: comma-separated factors the views share")
    p.add_argument("--strength", type=float, help="simclr: colour-distortion strength (default: the dataset's "
                                                 "mvssl train default, 0.5 for cmnist and CIFAR, 1.0 otherwise)")
    p.add_argument("--min-scale", type=float, default=0.08, help="simclr, crop, infomin: smallest crop area")
    p.add_argument("--patch-size", type=int, default=12, help="patches: patch side in pixels")
    p.add_argument("--distance", type=float, default=0.0, help="patches: pixels between the patch centres")
    p.add_argument("--split", default="L,ab", help="colorspace: channel groups, e.g. L,ab or Y,DbDr")
    p.add_argument("--dataset", default="cmnist", choices=tuple(DATASETS),
                   help="whose training images make the views: cmnist (rendered frames; the only one with "
                        "factor-shared views) or another of mvssl train's datasets (folder, webdataset and hf read "
                        "--root as --data.root does: docs/data.md)")
    p.add_argument("--root", default="data", help="where the data lives: torchvision's folder, an image folder, a "
                                                  "WebDataset shard pattern (shards-{0000..0009}.tar) or a Hugging "
                                                  "Face dataset folder")
    p.add_argument("--download", action="store_true", help="fetch a torchvision dataset if missing")
    p.add_argument("--strict", action="store_true", help="folder, webdataset: fail on an unreadable image or a "
                                                         "damaged shard instead of skipping it")
    p.add_argument("--image-size", type=int, help="image side in pixels (default: the dataset's mvssl train default, "
                                                  "24 for cmnist)")
    p.add_argument("--digit-size", type=int, help="cmnist: digit side in pixels (default 16)")
    p.add_argument("--k", type=int, default=64, help="candidates per query: the positive and k - 1 negatives")
    p.add_argument("--steps", type=int, default=300, help="critic training steps per seed")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..S-1)")
    p.add_argument("--width", type=int, default=8, help="critic ConvNet width")
    p.add_argument("--margin", type=float, default=0.1, help="flag estimates within this many nats of log K")
    p.add_argument("--out", help="folder for nce.json and nce.md (default runs/nce-<time>)")


def view_config(args) -> dict:
    """The ``mvssl train`` config whose view source is this pair (so ``build_view_source`` makes it)."""
    args.views = args.views or ("factor-shared" if args.dataset == "cmnist" else "simclr")
    name = {"colorspace": "crop"}.get(args.views, args.views)
    if args.dataset != "cmnist" and args.views == "factor-shared":
        raise ConfigError(f"--views factor-shared needs --dataset cmnist (views that share rendered factors); on "
                          f"{args.dataset} choose an augmentation recipe, e.g. --views simclr")
    if args.dataset != "cmnist" and args.digit_size is not None:
        raise ConfigError(f"--digit-size applies to --dataset cmnist only (got --dataset {args.dataset})")
    data = {"dataset": args.dataset, "root": args.root, "download": args.download, "strict": args.strict}
    data.update({k: v for k, v in (("image_size", args.image_size), ("digit_size", args.digit_size)) if v is not None})
    return {"data": data,
            "views": {"name": name, "shared": args.shared.split(","),
                      **({"strength": args.strength} if args.strength is not None else {}),
                      "min_scale": args.min_scale if args.views != "colorspace" else 1.0,
                      "n_views": 1 if args.views == "colorspace" else 2,
                      "patch_size": args.patch_size, "patch_distance": args.distance}}


def describe_images(data: dict) -> str:
    """``Colorful-Moving-MNIST train frames (24 px)`` or ``folder train images at ROOT (64 px)``."""
    if data["dataset"] == "cmnist":
        return f"Colorful-Moving-MNIST train frames ({data['image_size']} px, {data['digit_size']}-px digits)"
    where = f" at {data['root']}" if data["dataset"] == "folder" else ""
    return f"{data['dataset']} train images{where} ({data['image_size']} px)"


def build_pair_source(args):
    cfg = resolve(view_config(args))
    source = build_view_source(cfg, build_dataset(cfg, "train"))
    if args.views == "colorspace":  # one full-area crop (+ flip) per image, split by channel
        source = ChannelSplitViews(source, args.split)
    return source, cfg


def run(args) -> int:
    source, cfg = build_pair_source(args)
    data = describe_images(cfg["data"])
    print(f"I_NCE of {len(source)} {data}: {args.seeds} seed(s) x {args.steps} critic steps, K = {args.k}",
          flush=True)
    started = time.perf_counter()

    def report(done: int, total: int, value: float) -> None:
        print(f"{progress_line('seed', done, total, time.perf_counter() - started)}: I_NCE {value:.3f} nats",
              flush=True)

    est = estimate_nce(source, k=args.k, steps=args.steps, seeds=range(args.seeds), width=args.width,
                       saturation_margin=args.margin, on_seed=report)
    described = {"factor-shared": f"factor-shared views sharing {args.shared}",
                 "patches": f"{args.patch_size}-px patches {args.distance:g} px apart",
                 "colorspace": f"colour-space split {args.split}"}.get(
        args.views, f"recipe {args.views} applied twice (strength {cfg['views']['strength']:g}, min scale "
                    f"{args.min_scale:g})")
    out = Path(args.out or f"runs/nce-{datetime.now():%Y%m%d-%H%M%S}")
    result = {"views": described, "dataset": cfg["data"]["dataset"], "images": data,
              "view_config": written_config(cfg)["views"], "image_size": cfg["data"]["image_size"], **est.to_dict()}
    rows = [[described, est.k, round(est.log_k, 3), f"{est.mean:.3f} +- {est.std:.3f}", len(est.per_seed),
             "yes" if est.saturated else "no"]]
    table = markdown_table(["views", "K", "log K", "I_NCE (nats)", "seeds", "saturated"], rows)
    write_report(out, "nce", result, f"I_NCE of a view pair ({data})", f"{table}\n\n{est.summary()}")
    print(f"{described}: {est.summary()}\nwrote {out}/nce.{{json,md}}")
    return 0
