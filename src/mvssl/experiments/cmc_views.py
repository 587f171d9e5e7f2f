"""CMC (Tian, Krishnan & Isola 2019; abstract in seed 003): the more views an encoder learns
from, the better its representation captures what the views share; and the contrastive
objective beats cross-view prediction at equal budget.

Views are colour-channel groups of one random crop + flip of each image (CMC's setting):
2 views L vs ab, 3 views L, a, b with the core graph (every view against L) and the full
graph (every pair). As in the paper's NYU experiment, the headline is the linear probe of
the **L encoder's** features, whose size is the same in every arm, so more views cannot win
by a larger representation; the probe of all encoders' features concatenated is reported
beside it. The predictive baseline (``method.objective predictive``) has the same encoders,
views, steps and batch and predicts every other view's pooled channels from each view's
features. Design argument: docs/cmc_views.md.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .simclr_setup import add_data_arguments, base_config, chance_pct, linear_accuracy, load_and_check, steps

COMMAND = "cmc-views"
HELP = "CMC: 2 or 3 colour-channel views, core and full graph, against cross-view prediction"
# arm: (channels, graph, objective)
ARMS = {"2 views (L / ab), contrastive": ("L,ab", "full", "contrastive"),
        "3 views (L / a / b), core, contrastive": ("L,a,b", "core", "contrastive"),
        "3 views (L / a / b), full, contrastive": ("L,a,b", "full", "contrastive"),
        "2 views (L / ab), predictive": ("L,ab", "full", "predictive"),
        "3 views (L / a / b), full, predictive": ("L,a,b", "full", "predictive")}
DEFAULT_STEPS, QUICK_STEPS = 200, 60


def add_arguments(p) -> None:
    from .results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, DEFAULT_STEPS, QUICK_STEPS)


@torch.no_grad()
def view_features(encoder, images: torch.Tensor, view: int = 0) -> torch.Tensor:
    """Features of one view's encoder (0 = L) of a CMC ``Encoder``."""
    encoder.eval()
    return torch.cat([encoder.backbone.encode([encoder.preprocess(images[i:i + 500])])[view].float()
                      for i in range(0, len(images), 500)])


def probe_l(run_dir: Path, data) -> float:
    from .. import load
    from ..eval.linear import linear_probe

    enc = load(run_dir)
    return 100 * linear_probe(view_features(enc, data.train_images), data.train_labels,
                              view_features(enc, data.test_images), data.test_labels)["top1"]


def claims(acc: dict, quick: bool) -> list[dict]:
    from .stats import all_of, difference

    a = list(ARMS)
    if len(acc[a[0]]) < 2:
        return []
    return [
        all_of("cmc.views", "more views, better: 3 views (core and full graph) beat 2 views (probe of the L encoder)",
               [difference(acc[a[1]], acc[a[0]]), difference(acc[a[2]], acc[a[0]])],
               "weaker of the paired differences 3-view core minus 2-view and 3-view full minus 2-view", quick, "pts"),
        all_of("cmc.contrastive-vs-predictive", "contrastive beats cross-view prediction at equal budget (L encoder)",
               [difference(acc[a[0]], acc[a[3]]), difference(acc[a[2]], acc[a[4]])],
               "weaker of the paired differences contrastive minus predictive at 2 and at 3 views", quick, "pts"),
    ]


def plot(acc: dict, concat: dict, random_init: float, chance: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .stats import summarize

    names = list(ARMS)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, (vals, label, colour) in enumerate(((acc, "L encoder", "tab:blue"), (concat, "all encoders", "tab:green"))):
        s = [summarize(vals[n]) for n in names]
        ax.barh([i + (k - 0.5) * 0.38 for i in range(len(names))], [x["mean"] for x in s], 0.38,
                xerr=[x["ci95"] if len(x["per_seed"]) > 1 else 0 for x in s], capsize=3, color=colour, label=label)
    ax.axvline(random_init, color="grey", ls="--", label="random-init encoder (all)")
    ax.axvline(chance, color="black", ls=":", label="chance")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("linear-probe accuracy (%)")
    ax.set_title("CMC: number of views and objective (mean ± 95% CI)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(acc: dict, concat: dict, random_init: list[float], chance: float, settings: str) -> str:
    from ..eval.report import markdown_table
    from .results import fmt
    from .stats import summarize

    rows = [[n, fmt(summarize(acc[n])), fmt(summarize(concat[n]))] for n in ARMS if acc[n]]
    rows += [["random-init encoder (2 views)", "-", fmt(summarize(random_init))], ["chance", f"{chance:.1f}", ""],
             ["paper (NYU RGB-D, ImageNet)", "more views better; contrastive > predictive", ""]]
    return markdown_table(["arm", "probe of the L encoder (%)", "probe of all encoders (%)"], rows) + f"\n\n{settings}"


def run(args) -> int:
    from ..config import resolve
    from ..train.build import build_dataset
    from .results import Experiment
    from .stats import summarize

    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    exp = Experiment(COMMAND, args, total_runs=len(ARMS) * args.seeds)
    acc: dict[str, list[float]] = {n: [] for n in ARMS}
    concat: dict[str, list[float]] = {n: [] for n in ARMS}
    runs: dict[str, list[str]] = {n: [] for n in ARMS}
    random_init: list[float] = []
    data = None
    chance = chance_pct(args)
    settings = (f"Data {args.dataset}, one {args.backbone} (width {args.width}) per view, CMC temperature 0.07 with "
                f"in-batch negatives, crop + flip views, {n_steps} steps of batch {args.batch_size}; predictive: "
                "MLP decoders to the other views' channels pooled to 8x8, squared error.")
    for seed in exp.seeds:
        for i, (name, (channels, graph, objective)) in enumerate(ARMS.items()):
            method = {"name": "cmc", "channels": channels, "graph": graph, "objective": objective}
            cfg = base_config(args, n_steps, seed, {"name": "crop", "n_views": 1}, method=method,
                              random_baseline=i == 0)
            path, metrics = exp.train(cfg, f"{channels.replace(',', '-')}-{graph}-{objective}-seed{seed}")
            if data is None:
                data = build_dataset(resolve(cfg))
            concat[name].append(linear_accuracy(metrics))
            acc[name].append(probe_l(exp.out / path, data))
            runs[name].append(path)
            if i == 0:
                random_init.append(linear_accuracy(metrics, "random init"))
            exp.progress(f"{name} seed {seed}", f"L encoder {acc[name][-1]:.1f}%, all {concat[name][-1]:.1f}%")
        complete = seed == exp.seeds[-1]
        points = [{"arm": n, "value": list(ARMS[n]), "metrics": {"l_linear_top1_pct": summarize(acc[n]),
                                                                  "all_linear_top1_pct": summarize(concat[n])},
                   "runs": runs[n]} for n in ARMS]
        points.append({"arm": "random init", "value": None, "metrics": {"all_linear_top1_pct": summarize(random_init)},
                       "runs": []})
        plots = []
        if complete:
            plot(acc, concat, summarize(random_init)["mean"], chance, exp.out / "cmc_views.png")
            plots = ["cmc_views.png"]
        exp.write(points, claims(acc, exp.quick), markdown(acc, concat, random_init, chance, settings),
                  "CMC: number of views and contrastive vs predictive", extra={"chance_pct": chance, "steps": n_steps},
                  plots=plots, complete=complete)
    return 0
