"""``mvssl info nce``: I_NCE of a view pair on Colorful-Moving-MNIST training frames, with
K, the spread over seeds and the saturation flag; writes nce.json and nce.md."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

COMMAND = "nce"
HELP = "I_NCE = log K - L_NCE of a view pair (a fresh critic per seed, held-out pairs), mean +- std over seeds"
VIEW_KINDS = ("factor-shared", "simclr", "crop", "infomin", "byol", "patches", "colorspace")


def add_arguments(p) -> None:
    p.add_argument("--views", default="factor-shared", choices=VIEW_KINDS,
                   help="factor-shared (--shared), an augmentation recipe applied twice (simclr, crop, infomin, "
                        "byol), patches (--patch-size, --distance) or colorspace (--split)")
    p.add_argument("--shared", default="digit", help="factor-shared: comma-separated factors the views share")
    p.add_argument("--strength", type=float, default=0.5, help="simclr: colour-distortion strength")
    p.add_argument("--min-scale", type=float, default=0.08, help="simclr, crop, infomin: smallest crop area")
    p.add_argument("--patch-size", type=int, default=12, help="patches: patch side in pixels")
    p.add_argument("--distance", type=float, default=0.0, help="patches: pixels between the patch centres")
    p.add_argument("--split", default="L,ab", help="colorspace: channel groups, e.g. L,ab or Y,DbDr")
    p.add_argument("--image-size", type=int, default=24, help="frame side (the default mvssl train frames)")
    p.add_argument("--digit-size", type=int, default=16)
    p.add_argument("--k", type=int, default=64, help="candidates per query: the positive and k - 1 negatives")
    p.add_argument("--steps", type=int, default=300, help="critic training steps per seed")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..S-1)")
    p.add_argument("--width", type=int, default=8, help="critic ConvNet width")
    p.add_argument("--margin", type=float, default=0.1, help="flag estimates within this many nats of log K")
    p.add_argument("--out", help="folder for nce.json and nce.md (default runs/nce-<time>)")


def view_config(args) -> dict:
    """The ``mvssl train`` config whose view source is this pair (so ``build_view_source`` makes it)."""
    name = {"colorspace": "crop"}.get(args.views, args.views)
    return {"data": {"image_size": args.image_size, "digit_size": args.digit_size},
            "views": {"name": name, "shared": args.shared.split(","), "strength": args.strength,
                      "min_scale": args.min_scale if args.views != "colorspace" else 1.0,
                      "n_views": 1 if args.views == "colorspace" else 2,
                      "patch_size": args.patch_size, "patch_distance": args.distance}}


def build_pair_source(args):
    from ..config import resolve
    from ..train.build import build_dataset, build_view_source
    from ..views.colorspaces import ChannelSplitViews

    cfg = resolve(view_config(args))
    source = build_view_source(cfg, build_dataset(cfg, "train"))
    if args.views == "colorspace":  # one full-area crop (+ flip) per image, split by channel
        source = ChannelSplitViews(source, args.split)
    return source, cfg


def run(args) -> int:
    from ..eval.report import markdown_table
    from .nce import estimate_nce

    source, cfg = build_pair_source(args)
    est = estimate_nce(source, k=args.k, steps=args.steps, seeds=range(args.seeds), width=args.width,
                       saturation_margin=args.margin)
    described = {"factor-shared": f"factor-shared views sharing {args.shared}",
                 "patches": f"{args.patch_size}-px patches {args.distance:g} px apart",
                 "colorspace": f"colour-space split {args.split}"}.get(
        args.views, f"recipe {args.views} applied twice (strength {args.strength}, min scale {args.min_scale})")
    out = Path(args.out or f"runs/nce-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    result = {"views": described, "view_config": cfg["views"], "image_size": args.image_size, **est.to_dict()}
    (out / "nce.json").write_text(json.dumps(result, indent=2))
    rows = [[described, est.k, round(est.log_k, 3), f"{est.mean:.3f} +- {est.std:.3f}", len(est.per_seed),
             "yes" if est.saturated else "no"]]
    table = markdown_table(["views", "K", "log K", "I_NCE (nats)", "seeds", "saturated"], rows)
    (out / "nce.md").write_text(f"# I_NCE of a view pair (Colorful-Moving-MNIST train frames)\n\n{table}\n\n"
                                f"{est.summary()}\n")
    print(f"{described}: {est.summary()}\nwrote {out}/nce.{{json,md}}")
    return 0
