"""SimCLR Fig. 5 (Chen et al. 2020, Sec. 3.1): linear-probe accuracy of SimCLR encoders
trained with one augmentation or an ordered pair of augmentations.

For every augmentation a of ``--augmentations`` (crop, cutout, color, sobel, noise, blur,
rotate: ``mvssl.views.compositions``) one encoder is trained with the single augmentation
a, and for every ordered pair (a, b), a != b, one with a then b. As in the paper the
composition is applied to one branch of the pair and the other branch is the image itself
(``--branches one``; ``--branches both`` draws it independently on both). The matrix
(rows: first augmentation, columns: second, diagonal: the single augmentation) is the
linear-probe accuracy on the test split, mean ± 95% interval over ``--seeds``.

A study (:mod:`mvssl.studies`) declared from the options: one arm per cell, the linear probe
as measure, every arm gated on beating its random-init twin; predictions (paired by seed,
all-of, Bonferroni): crop + colour beats every other pair, and crop + colour beats every single
augmentation (disjoint differences). The design argument is in docs/simclr_augmentations.md.
"""
from __future__ import annotations

from itertools import product
from pathlib import Path

from .simclr_setup import add_data_arguments, base_config, chance_pct, load_and_check, steps

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


def cell_arm(cell) -> str:
    return "-".join(cell)


def study(args, names) -> dict:
    """The study this experiment runs for ``args`` over the augmentations ``names``."""
    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    todo = cells(names)
    best = cell_arm(BEST_PAIR)
    others = [cell_arm(c) for c in todo if len(c) == 2 and set(c) != set(BEST_PAIR)]
    singles = [cell_arm(c) for c in todo if len(c) == 1]
    predictions = []
    if BEST_PAIR in todo and others:
        predictions.append({"id": "crop-color-best-pair", "claim": "simclr.augmentations",
                            "says": "crop -> color beats every other ordered pair of two different augmentations",
                            "all_of": [f"{best}.linear_top1_pct - {o}.linear_top1_pct > 0" for o in others]})
    if BEST_PAIR in todo:
        predictions.append({"id": "no-single-suffices", "claim": "simclr.augmentations",
                            "says": "no single augmentation reaches crop -> color",
                            "all_of": [f"{best}.linear_top1_pct - {o}.linear_top1_pct > 0" for o in singles]})
    else:
        raise ValueError("--augmentations must include crop and color: the claims are about crop -> color")
    return {
        "study": COMMAND,
        "description": f"SimCLR Fig. 5 on {args.dataset}: {args.backbone} width {args.width}, SimCLR (MLP head, "
                       f"temperature 0.5), {n_steps} steps of batch {args.batch_size}; every single augmentation and "
                       f"every ordered pair of {', '.join(names)}, applied to {args.branches} branch"
                       f"{'es' if args.branches == 'both' else ' (the other is the image itself)'}; linear probe. One "
                       "difference is one verdict: the pair claim compares crop -> color with the other pairs, the "
                       "single claim with the single augmentations.",
        "base": base_config(args, n_steps, 0, {"name": "compose", "branches": args.branches}, random_baseline=True),
        "arms": {cell_arm(c): {"views": {"compose": list(c)}, "x": list(c)} for c in todo},
        "seeds": args.seeds,
        "measures": {"linear_top1_pct": {"measure": "linear"}},
        "references": {"random_init": True, "chance": chance_pct(args)},
        "gates": [{"learns": "linear_top1_pct"}],
        "predictions": predictions,
    }


def heatmap(names, acc: dict, random_init: float, chance: float, path: Path, title: str) -> None:
    from ..studies.plots import figure
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
    with figure(path, 1, (1.1 * k + 2.5, 1.0 * k + 1.5)) as (fig, (ax,)):
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


def matrix_plot(args, names):
    """The augmentation matrix (rows: first, columns: second, diagonal: single) as an extra plot."""
    def draw(out: Path, points: list[dict]) -> list[str]:
        acc = {tuple(p["value"]): p["metrics"]["linear_top1_pct"]["per_seed"] for p in points
               if "linear_top1_pct" in p["metrics"]}
        rand = [v for p in points for v in p.get("random_init", {}).get("linear_top1_pct", {}).get("per_seed", [])]
        heatmap(names, acc, sum(rand) / len(rand) if rand else float("nan"), chance_pct(args),
                out / "augmentation_matrix.png", f"SimCLR augmentation pairs ({args.dataset}, {args.branches} branch"
                f"{'es' if args.branches == 'both' else ''})")
        return ["augmentation_matrix.png"]
    return draw


def run(args) -> int:
    from ..studies.engine import run_declared
    from ..views.compositions import check_composition

    names = check_composition(args.augmentations.split(",") if args.augmentations else (QUICK if args.quick else ALL),
                              option="--augmentations")
    steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    run_declared(study(args, names), args, echo=lambda *a, **k: print(*a, **k, flush=True),
                 extra_plots=matrix_plot(args, names))
    return 0
