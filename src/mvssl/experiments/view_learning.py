"""``mvssl experiment view-learning``: InfoMin's learned views (Tian et al. 2020, Sec. 4.1, Table 2).

For each starting colour space (RGB, YDbDr), each kind of views
    raw              the plain channel split X_1 | X_{2:3} of the colour space (no generator),
    unsupervised     a flow generator trained by  min_g max_f I_NCE(g(X)_1; g(X)_{2:3}),
    supervised       a generator trained only by the two views' classification losses,
    semi-supervised  both (the labelled part of the training pool),
and each training seed, the generator is frozen, fresh encoders are trained with CMC's
two-view InfoNCE on its views, and their concatenated features are scored by a linear probe.
The I_NCE of the frozen views is measured by critics the generator never saw (the fresh CMC
encoders and ``--fresh-critics`` more, each trained from scratch), beside the bound of the
generator's own adversarial critic: a generator that lowers only its own critic's bound fooled
it rather than removing shared information, and is flagged. Design argument:
docs/view_learning.md.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..views.generator import COLOUR_SPACES, COUPLINGS, ViewGenerator
from ..views.learning import TwoViewCritic, embed, fresh_critic_bound, held_out_bound, refresh_batch_norm, train_views
from .view_learning_data import SplitShapes

COMMAND = "view-learning"
HELP = "InfoMin Table 2: learned colour-space views (unsupervised / supervised / semi-supervised) vs raw"
VIEW_KINDS = ("raw", "unsupervised", "supervised", "semi-supervised")
DATASETS = ("shapes", "stl10", "cifar10", "cifar100")
DEFAULTS = {"gen_steps": 150, "critic_steps": 3, "cmc_steps": 200, "fresh_critics": 1, "probe_size": 1000}
QUICK = {"gen_steps": 20, "critic_steps": 2, "cmc_steps": 40, "fresh_critics": 0, "probe_size": 300}
HELD_OUT_BATCH = 500  # I_NCE of every critic on held-out images in batches of this many (log N = 6.2 nats)


def add_arguments(p) -> None:
    from .results import add_common_arguments

    add_common_arguments(p)
    p.add_argument("--dataset", default="shapes", choices=DATASETS,
                   help="shapes: the offline colour-split shapes (default, task = shape); the others via torchvision")
    p.add_argument("--root", default="data", help="where a torchvision dataset lives")
    p.add_argument("--download", action="store_true", help="fetch a torchvision dataset if missing")
    p.add_argument("--image-size", type=int, help="image side (default 16 for shapes, 32 for the others)")
    p.add_argument("--spaces", nargs="+", default=list(COLOUR_SPACES),
                   help=f"colour spaces the generator starts from (default: all of {list(COLOUR_SPACES)})")
    p.add_argument("--views", nargs="+", default=list(VIEW_KINDS),
                   help=f"which views to compare (default: all of {list(VIEW_KINDS)})")
    p.add_argument("--coupling", default="mixed", choices=COUPLINGS, help="generator coupling layers")
    p.add_argument("--layers", type=int, default=6, help="coupling layers in the generator")
    p.add_argument("--labelled-fraction", type=float, default=0.05,
                   help="fraction of each class of the training pool that is labelled (default 0.05, "
                        "STL-10's 5k of 105k; supervised and semi-supervised views)")
    p.add_argument("--gen-steps", type=int, help=f"generator steps (default {DEFAULTS['gen_steps']}, "
                   f"--quick {QUICK['gen_steps']})")
    p.add_argument("--critic-steps", type=int, help="adversarial critic updates per generator step "
                   f"(default {DEFAULTS['critic_steps']}, --quick {QUICK['critic_steps']})")
    p.add_argument("--cmc-steps", type=int, help="contrastive steps of every fresh critic and encoder on the "
                   f"frozen views (default {DEFAULTS['cmc_steps']}, --quick {QUICK['cmc_steps']})")
    p.add_argument("--fresh-critics", type=int, help="extra fresh critics (other initialisations) measuring "
                   f"the I_NCE of each row's frozen views, beside the CMC encoders (default {DEFAULTS['fresh_critics']})")
    p.add_argument("--probe-size", type=int, help="probe-train and test images (seeded subsets; default "
                   f"{DEFAULTS['probe_size']}, --quick {QUICK['probe_size']})")
    p.add_argument("--width", type=int, default=8, help="convnet width of each view's encoder (default 8)")
    p.add_argument("--batch-size", type=int, default=128, help="batch of generator and CMC training")
    p.add_argument("--generator-lr", type=float, default=3e-3, help="Adam learning rate of the view generator")
    p.add_argument("--ce-weight", type=float, default=1.0, help="weight of the cross-entropy terms (paper: 1)")
    p.add_argument("--temperature", type=float, default=0.1, help="InfoNCE temperature of critics and CMC")


def settings(args) -> dict:
    """The run's settings, checked before anything trains (each error names its option)."""
    from .view_learning_data import MIN_LABELS_PER_CLASS

    bad_spaces = [s for s in args.spaces if s not in COLOUR_SPACES]
    if bad_spaces:
        raise ValueError(f"--spaces: unknown colour space(s) {bad_spaces}; choose from {list(COLOUR_SPACES)}")
    bad_views = [v for v in args.views if v not in VIEW_KINDS]
    if bad_views:
        raise ValueError(f"--views: unknown kind(s) {bad_views}; choose from {list(VIEW_KINDS)}")
    if not 0 < args.labelled_fraction <= 1:
        raise ValueError(f"--labelled-fraction must be in (0, 1], got {args.labelled_fraction}")
    if args.ce_weight < 0:
        raise ValueError(f"--ce-weight must be >= 0, got {args.ce_weight}")
    cfg = {**(QUICK if args.quick else DEFAULTS)}
    for key in cfg:
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    minimum = {"gen_steps": 1, "critic_steps": 1, "cmc_steps": 1, "fresh_critics": 0, "probe_size": 2 * 5}
    for key, low in minimum.items():
        if cfg[key] < low:
            raise ValueError(f"--{key.replace('_', '-')} must be at least {low}, got {cfg[key]}")
    cfg.update(layers=args.layers, coupling=args.coupling, batch_size=args.batch_size, width=args.width,
               generator_lr=args.generator_lr, ce_weight=args.ce_weight, temperature=args.temperature,
               labelled_fraction=args.labelled_fraction, min_labels_per_class=MIN_LABELS_PER_CLASS)
    return cfg


def load_data(args, cfg: dict):
    if args.dataset == "shapes":
        return SplitShapes(args.image_size or 16, labelled_fraction=cfg["labelled_fraction"])
    from ..data.datasets import load_dataset
    from .view_learning_data import ImageSetViews

    data = load_dataset(args.dataset, args.root, args.image_size or 32, args.download,
                        unlabelled=args.dataset == "stl10")
    return ImageSetViews(data, cfg["labelled_fraction"])


def _subset(images, labels: dict, max_items: int, seed: int):
    from ..data.splits import seeded_subset

    keep = seeded_subset(len(images), max_items, seed)
    return images[keep], {t: y[keep] for t, y in labels.items()}


def _probe(generator, critic, probe: dict, seed: int) -> dict:
    from ..eval.linear import linear_probe

    (xtr, ytr), (xte, yte) = probe["train"], probe["test"]
    ftr, fte = embed(generator, critic, xtr), embed(generator, critic, xte)
    return {t: 100 * linear_probe(ftr, ytr[t], fte, yte[t], seed=seed)["top1"] for t in ytr}


def run_row(space: str, kind: str, data, probe: dict, cfg: dict, seed: int, run_dir: Path) -> dict:
    """Learn (or not) the views of one row, measure their I_NCE with fresh critics, train CMC
    encoders on them and probe; keeps generator and encoders in ``run_dir``."""
    t0 = time.process_time()
    critic_kw = dict(num_classes=data.num_classes, width=cfg["width"], temperature=cfg["temperature"])
    test_images = probe["test"][0]
    batch = min(HELD_OUT_BATCH, len(test_images))
    torch.manual_seed(seed)
    generator = ViewGenerator(space, 0 if kind == "raw" else cfg["layers"], cfg["coupling"])
    curve, ce_curve, own = [], [], None
    if kind != "raw":
        critic = TwoViewCritic(**critic_kw)
        history = train_views(generator, critic, data, kind, cfg["gen_steps"], cfg["batch_size"],
                              generator_lr=cfg["generator_lr"], seed=seed, ce_weight=cfg["ce_weight"],
                              critic_steps=cfg["critic_steps"])
        curve, ce_curve = [h["i_nce"] for h in history], [h["ce"] for h in history]
        if kind != "supervised":  # the adversary's bound on the final views (its BN statistics re-estimated on them)
            refresh_batch_norm(generator, critic, data, cfg["batch_size"], seed=seed)
            own = held_out_bound(generator, critic, test_images, batch)
    # the CMC encoders are the first fresh critic: trained from scratch on the frozen views
    fresh, encoders = [], None
    for k in range(1 + cfg["fresh_critics"]):
        bound, critic = fresh_critic_bound(generator, data, test_images, critic_kw, cfg["cmc_steps"],
                                           seed=1000 * (k + 1) + seed, batch_size=cfg["batch_size"], eval_batch=batch)
        fresh.append(bound)
        encoders = encoders or critic
    accuracy = _probe(generator, encoders, probe, seed)
    random_init = None
    if kind == "raw":  # the reference: the same encoders untrained, on the raw views
        torch.manual_seed(1000 + seed)
        random_init = _probe(generator, TwoViewCritic(**critic_kw), probe, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(generator.state_dict(), run_dir / "generator.pt")
    torch.save(encoders.state_dict(), run_dir / "encoders.pt")
    row = {"space": space, "views": kind, "seed": seed, "accuracy": accuracy, "random_init_accuracy": random_init,
           "i_nce_fresh": sum(fresh) / len(fresh), "i_nce_fresh_per_critic": fresh, "i_nce_own_critic": own,
           "generator_i_nce_curve": curve, "generator_ce_curve": ce_curve, "cpu_seconds": time.process_time() - t0}
    (run_dir / "row.json").write_text(json.dumps({"config": {**cfg, "space": space, "views": kind, "seed": seed,
                                                             "num_classes": data.num_classes}, "row": row}))
    return row


def load_row(run_dir: str | Path) -> tuple[ViewGenerator, TwoViewCritic, dict]:
    """The frozen generator, the CMC encoders and the record of one row's run folder."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / "row.json").read_text())
    cfg = record["config"]
    generator = ViewGenerator(cfg["space"], 0 if cfg["views"] == "raw" else cfg["layers"], cfg["coupling"])
    generator.load_state_dict(torch.load(run_dir / "generator.pt", weights_only=True))
    critic = TwoViewCritic(num_classes=cfg["num_classes"], width=cfg["width"], temperature=cfg["temperature"])
    critic.load_state_dict(torch.load(run_dir / "encoders.pt", weights_only=True))
    return generator.eval(), critic.eval(), record


def run(args) -> int:
    from .results import Experiment
    from .view_learning_report import write_results

    cfg = settings(args)
    data = load_data(args, cfg)  # before the output folder: a missing dataset or too few labels leaves nothing
    probe = {split: _subset(*images_labels, cfg["probe_size"], 0)
             for split, images_labels in data.probe_sets().items()}
    if len(probe["test"][0]) < 2:
        raise ValueError(f"--probe-size {cfg['probe_size']}: need at least 2 test images")
    exp = Experiment(COMMAND, args, total_runs=len(args.spaces) * len(args.views) * args.seeds)
    rows = []
    for seed in exp.seeds:
        for space in args.spaces:
            for kind in args.views:
                name = f"{space}-{kind}-seed{seed}"
                run_dir = exp.run_path(name)
                if exp.resume and (run_dir / "row.json").exists():
                    row = json.loads((run_dir / "row.json").read_text())["row"]
                else:
                    row = run_row(space, kind, data, probe, cfg, seed, run_dir)
                row["run"] = str(run_dir.relative_to(exp.out))
                rows.append(row)
                own = f", own critic {row['i_nce_own_critic']:.2f}" if row["i_nce_own_critic"] is not None else ""
                exp.progress(f"{space} {kind} seed {seed}",
                             f"{data.task} acc {row['accuracy'][data.task]:.1f}%, fresh-critic I_NCE "
                             f"{row['i_nce_fresh']:.2f}{own} nats ({row['cpu_seconds']:.0f} s CPU)")
        write_results(exp, rows, data.task, cfg, args, probe, complete=seed == exp.seeds[-1])
    return 0
