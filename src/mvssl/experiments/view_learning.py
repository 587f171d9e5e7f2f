"""``mvssl experiment view-learning``: InfoMin's learned views (Tian et al. 2020, Sec. 4.1, Table 2).

For each starting colour space (RGB, YDbDr) and each kind of views
    raw              the plain channel split X_1 | X_{2:3} of the colour space (no generator),
    unsupervised     a flow generator trained by  min_g max_f I_NCE(g(X)_1; g(X)_{2:3}),
    supervised       a generator trained only by the two views' classification losses,
    semi-supervised  both (a few labelled images per class),
the generator is frozen, fresh encoders are trained with CMC's two-view InfoNCE on its views,
and their concatenated features are scored by a linear probe. The table also gives the I_NCE
between the views (the CMC critic's bound on held-out images). Every row starts from the same
encoder initialisation and data stream seed, so rows differ only in their views.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime
from pathlib import Path

import torch

from ..data.datasets import load_dataset
from ..data.splits import seeded_subset
from ..eval.linear import linear_probe
from ..eval.report import write_report
from ..views.generator import COLOUR_SPACES, COUPLINGS, ViewGenerator
from ..views.learning import TwoViewCritic, embed, held_out_bound, train_views
from .view_learning_data import CMNISTViews, ImageSetViews
from .view_learning_report import check_claims, claims_table, plot, results_table

COMMAND = "view-learning"
HELP = "InfoMin Table 2: learned colour-space views (unsupervised / supervised / semi-supervised) vs raw"
VIEW_KINDS = ("raw", "unsupervised", "supervised", "semi-supervised")
DEFAULTS = {"gen_steps": 250, "cmc_steps": 350, "width": 8}
QUICK = {"gen_steps": 40, "cmc_steps": 60, "width": 8}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="cmnist", choices=["cmnist", "stl10", "cifar10", "cifar100"],
                   help="cmnist: built-in Colorful-Moving-MNIST, task = digit class")
    p.add_argument("--root", default="data", help="where a torchvision dataset lives")
    p.add_argument("--download", action="store_true", help="fetch a torchvision dataset if missing")
    p.add_argument("--image-size", type=int, help="image side (cmnist default 16, digit 2/3 of it; others default 32)")
    p.add_argument("--spaces", nargs="+", default=list(COLOUR_SPACES), choices=COLOUR_SPACES,
                   help="colour spaces the generator starts from (default: all)")
    p.add_argument("--views", nargs="+", default=list(VIEW_KINDS), choices=VIEW_KINDS,
                   help="which views to compare: raw channel split or generators trained each way (default: all)")
    p.add_argument("--coupling", default="mixed", choices=COUPLINGS, help="generator coupling layers")
    p.add_argument("--layers", type=int, default=6, help="coupling layers in the generator")
    p.add_argument("--labels-per-class", type=int, default=10, help="labelled images per class (sup., semi-sup.)")
    p.add_argument("--gen-steps", type=int, help=f"generator training steps (default {DEFAULTS['gen_steps']})")
    p.add_argument("--cmc-steps", type=int, help=f"contrastive steps on frozen views (default {DEFAULTS['cmc_steps']})")
    p.add_argument("--width", type=int, help=f"convnet width of each view's encoder (default {DEFAULTS['width']})")
    p.add_argument("--batch-size", type=int, default=128, help="batch of generator and CMC training")
    p.add_argument("--generator-lr", type=float, default=3e-3, help="Adam learning rate of the view generator")
    p.add_argument("--ce-weight", type=float, default=5.0, help="weight of the semi-supervised cross-entropy "
                   "terms (the paper: 1; at 1 they did not move in trial runs of this budget)")
    p.add_argument("--temperature", type=float, default=0.1, help="InfoNCE temperature of critic and CMC")
    p.add_argument("--seed", type=int, default=0, help="labelled subset, initialisation and data stream")
    p.add_argument("--probe-size", type=int, help="probe on a seeded subset of at most this many train "
                   "(and test) images (default: all)")
    p.add_argument("--quick", action="store_true", help=f"a few-minute version: {QUICK}")
    p.add_argument("--out", help="run folder (default runs/view-learning-<time>)")


def _data(args):
    if args.dataset == "cmnist":
        size = args.image_size or 16
        return CMNISTViews(size, max(8, round(size * 2 / 3)), args.labels_per_class, args.seed)
    data = load_dataset(args.dataset, args.root, args.image_size or 32, args.download)
    return ImageSetViews(data, args.labels_per_class, args.seed)


def _subset(images, labels: dict, max_items: int | None, seed: int):
    keep = seeded_subset(len(images), max_items, seed)
    return images[keep], {t: y[keep] for t, y in labels.items()}


def run_row(space: str, kind: str, data, probe: dict, cfg: dict, seed: int) -> dict:
    """Learn (or not) the views of one row, then CMC on them, then probe."""
    t0 = time.time()
    critic_kw = dict(num_classes=data.num_classes, width=cfg["width"], temperature=cfg["temperature"])
    layers = 0 if kind == "raw" else cfg["layers"]
    torch.manual_seed(seed)
    generator = ViewGenerator(space, layers, cfg["coupling"])
    curve = []
    if kind != "raw":
        critic = TwoViewCritic(**critic_kw)
        history = train_views(generator, critic, data, kind, cfg["gen_steps"], cfg["batch_size"],
                              generator_lr=cfg["generator_lr"], seed=seed, ce_weight=cfg["ce_weight"])
        curve = [h["i_nce"] for h in history]
    torch.manual_seed(seed + 1)  # the same fresh encoders for every row
    critic = TwoViewCritic(**critic_kw)
    train_views(generator, critic, data, "contrastive", cfg["cmc_steps"], cfg["batch_size"], seed=seed + 1)
    (xtr, ytr), (xte, yte) = probe["train"], probe["test"]
    ftr, fte = embed(generator, critic, xtr), embed(generator, critic, xte)
    accuracy = {t: linear_probe(ftr, ytr[t], fte, yte[t], seed=seed)["top1"] for t in ytr}
    tail = [v for v in curve[-max(1, len(curve) // 10):] if v == v]
    return {"space": space, "views": kind, "accuracy": accuracy,
            "i_nce_test": held_out_bound(generator, critic, xte, min(256, len(xte))),
            "i_nce_generator_end": sum(tail) / len(tail) if tail else None,
            "generator_i_nce_curve": curve, "seconds": time.time() - t0}


def run(args) -> int:
    cfg = {**DEFAULTS, **(QUICK if args.quick else {})}
    for key in ("gen_steps", "cmc_steps", "width"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    cfg.update(layers=args.layers, coupling=args.coupling, batch_size=args.batch_size,
               generator_lr=args.generator_lr, ce_weight=args.ce_weight, temperature=args.temperature)
    data = _data(args)  # before the run folder: a missing dataset leaves nothing behind
    probe = {split: _subset(*images_labels, args.probe_size, args.seed)
             for split, images_labels in data.probe_sets().items()}
    out = Path(args.out or f"runs/view-learning-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    start, rows = time.time(), []
    for space in args.spaces:
        for kind in args.views:
            rows.append(run_row(space, kind, data, probe, cfg, args.seed))
            r = rows[-1]
            print(f"{space:6s} {kind:16s} {data.task} acc {100 * r['accuracy'][data.task]:.2f}%  "
                  f"I_NCE {r['i_nce_test']:.3f}  ({r['seconds']:.0f} s)", flush=True)
    targets = list(probe["train"][1])
    claims = check_claims(rows, data.task)
    wall = time.time() - start
    table = results_table(rows, targets)
    md = (f"{table}\n\nPaper's claims (InfoMin Table 2), checked on the {data.task} accuracy above:\n\n"
          f"{claims_table(claims)}\n\nDataset {args.dataset} (task: {data.task}); "
          f"{len(probe['train'][0])} probe-train / {len(probe['test'][0])} test images; wall {wall:.0f} s.")
    result = {"dataset": args.dataset, "task": data.task, "config": cfg, "seed": args.seed,
              "labels_per_class": args.labels_per_class, "rows": rows, "claims": claims, "wall_seconds": wall}
    write_report(out, "view_learning", result, "Learned views (InfoMin view generator)", md)
    plot(rows, data.task, out / "view_learning.png")
    print(md)
    print(f"wrote {out}/view_learning.md, .json, .png")
    return 0
