"""SimCLR Fig. 5 (Chen et al. 2020, Sec. 3.1): linear-probe accuracy of SimCLR encoders
trained with one augmentation or an ordered pair of augmentations.

For every augmentation a of ``--augmentations`` (crop, cutout, color, sobel, noise, blur,
rotate: ``mvssl.views.compositions``) one encoder is trained with the single augmentation
a, and for every ordered pair (a, b), a != b, one with a then b. As in the paper the
composition is applied to one branch of the pair and the other branch is the image itself
(``--branches one``; ``--branches both`` draws it independently on both). The matrix
(rows: first augmentation, columns: second, diagonal: the single augmentation) is the
linear-probe accuracy on the test split, mean ± 95% interval over ``--seeds``.

Verdicts (paired by seed): crop + colour beats every other pair, and crop + colour beats
every single augmentation. The design argument is in docs/simclr_augmentations.md.
"""
from __future__ import annotations

from itertools import product
from pathlib import Path

from .simclr_setup import add_data_arguments, base_config, chance_pct, linear_accuracy, load_and_check, steps

COMMAND = "simclr-augmentations"
HELP = "SimCLR Fig. 5: linear probe of every single augmentation and every ordered pair"
ALL = ("crop", "cutout", "color", "sobel", "noise", "blur", "rotate")
QUICK = ("crop", "color")
DEFAULT_STEPS, QUICK_STEPS = 120, 60
BEST_PAIR = ("crop", "color")


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, DEFAULT_STEPS, QUICK_STEPS)
    p.add_argument("--augmentations", help=f"comma-separated augmentations (default all: {','.join(ALL)}; "
                   f"--quick {','.join(QUICK)})")
    p.add_argument("--branches", default="one", choices=("one", "both"),
                   help="augment one branch, the other being the image itself (the paper's protocol, default), "
                   "or both")


def cells(names) -> list[tuple[str, ...]]:
    """(a,) for the diagonal, (a, b) for every ordered pair, row by row."""
    return [(a,) if a == b else (a, b) for a, b in product(names, names)]


def arm(cell) -> str:
    return " -> ".join(cell)


def claims(acc: dict[tuple, list[float]], quick: bool) -> list[dict]:
    from ..studies.stats import all_of, difference

    if BEST_PAIR not in acc:
        return []
    best = acc[BEST_PAIR]
    pairs = [c for c in acc if len(c) == 2 and set(c) != set(BEST_PAIR)]
    singles = [c for c in acc if len(c) == 1]
    out = []
    if pairs:
        out.append(all_of("simclr.augmentations", "crop -> color beats every other pair",
                          [difference(best, acc[c]) for c in pairs],
                          f"weakest of {len(pairs)} paired differences of linear-probe accuracy (crop -> color "
                          "minus the pair)", quick, unit="pts"))
    out.append(all_of("simclr.augmentations.single", "no single augmentation reaches crop -> color",
                      [difference(best, acc[c]) for c in singles],
                      f"weakest of {len(singles)} paired differences (crop -> color minus the single augmentation)",
                      quick, unit="pts"))
    return out


def heatmap(names, acc: dict, random_init: float, chance: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..studies.stats import summarize

    k = len(names)
    grid = np.full((k, k), np.nan)
    text = [[""] * k for _ in range(k)]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            cell = (a,) if a == b else (a, b)
            if cell in acc:
                s = summarize(acc[cell])
                grid[i, j] = s["mean"]
                text[i][j] = f"{s['mean']:.1f}\n±{s['ci95']:.1f}" if len(acc[cell]) > 1 else f"{s['mean']:.1f}"
    fig, ax = plt.subplots(figsize=(1.1 * k + 2.5, 1.0 * k + 1.5))
    im = ax.imshow(grid, cmap="Greens", vmin=min(chance, np.nanmin(grid)), vmax=np.nanmax(grid))
    for i in range(k):
        for j in range(k):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("2nd transformation")
    ax.set_ylabel("1st transformation")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=f"linear-probe accuracy (%)\nrandom init {random_init:.1f}, chance {chance:.1f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(names, acc: dict, random_init: list[float], chance: float, settings: str) -> str:
    from ..eval.report import markdown_table
    from ..studies.results import fmt
    from ..studies.stats import summarize

    rows = [[a] + [fmt(summarize(acc[(a,) if a == b else (a, b)])) if ((a,) if a == b else (a, b)) in acc else "-"
                   for b in names] for a in names]
    matrix = markdown_table(["1st \\ 2nd"] + list(names), rows)
    refs = markdown_table(["reference", "linear-probe accuracy (%)"],
                          [["random-init encoder (same architecture)", fmt(summarize(random_init)) if random_init else "-"],
                           ["chance", f"{chance:.1f}"],
                           ["paper (ImageNet, Fig. 5)", "crop + colour is the best pair; no per-cell number in the seed"]])
    return (f"Linear-probe accuracy (%) on the test split, mean ± 95% interval over seeds; rows: first "
            f"augmentation, columns: second, diagonal: the single augmentation.\n\n{matrix}\n\n{refs}\n\n{settings}")


def run(args) -> int:
    from ..views.compositions import check_composition
    from ..studies.results import Experiment
    from ..studies.stats import summarize

    names = check_composition(args.augmentations.split(",") if args.augmentations else (QUICK if args.quick else ALL),
                              option="--augmentations")
    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    todo = cells(names)
    exp = Experiment(COMMAND, args, total_runs=len(todo) * args.seeds)
    acc: dict[tuple, list[float]] = {}
    runs: dict[tuple, list[str]] = {}
    random_init: list[float] = []
    chance = chance_pct(args)
    settings = (f"Data {args.dataset} ({'generated offline' if args.dataset == 'shapes' else 'torchvision'}), "
                f"{args.backbone} width {args.width}, SimCLR (MLP head, temperature 0.5), {n_steps} steps of batch "
                f"{args.batch_size}; augmentations applied to {args.branches} branch"
                f"{'es' if args.branches == 'both' else ' (the other is the image itself)'}.")
    def cell_config(cell, seed: int, first: bool) -> dict:
        views = {"name": "compose", "compose": list(cell), "branches": args.branches}
        return base_config(args, n_steps, seed, views, random_baseline=first)

    exp.train_ahead([(cell_config(cell, seed, i == 0), f"{'-'.join(cell)}-seed{seed}")
                     for seed in exp.seeds for i, cell in enumerate(todo)])
    for seed in exp.seeds:
        for i, cell in enumerate(todo):
            path, metrics = exp.train(cell_config(cell, seed, i == 0), f"{'-'.join(cell)}-seed{seed}")
            acc.setdefault(cell, []).append(linear_accuracy(metrics))
            runs.setdefault(cell, []).append(path)
            if i == 0:
                random_init.append(linear_accuracy(metrics, "random init"))
            exp.progress(f"{arm(cell)} seed {seed}", f"linear probe {acc[cell][-1]:.1f}%")
        complete = seed == exp.seeds[-1]
        points = [{"arm": arm(c), "value": list(c), "metrics": {"linear_top1_pct": summarize(acc[c])},
                   "runs": runs[c]} for c in acc]
        points.append({"arm": "random init", "value": None,
                       "metrics": {"linear_top1_pct": summarize(random_init)}, "runs": []})
        plots = []
        if complete:
            heatmap(names, acc, summarize(random_init)["mean"], chance, exp.out / "augmentation_matrix.png",
                    f"SimCLR augmentation pairs ({args.dataset}, {args.branches} branch"
                    f"{'es' if args.branches == 'both' else ''})")
            plots = ["augmentation_matrix.png"]
        exp.write(points, claims(acc, exp.quick) if len(random_init) > 1 or complete else [],
                  markdown(names, acc, random_init, chance, settings), "SimCLR augmentation study (Fig. 5)",
                  extra={"chance_pct": chance, "branches": args.branches, "steps": n_steps,
                         "augmentations": names}, plots=plots, complete=complete)
    return 0
