"""CMC (Tian, Krishnan & Isola 2019; abstract in seed 003): the more views an encoder learns
from, the better its representation captures what the views share; and the contrastive
objective beats cross-view prediction at equal budget.

Views are colour-channel groups of one random crop + flip of each image (CMC's setting), a
ladder of 2, 3 and 4 views: L vs ab; L, a, b; L, a, b and HSV saturation S (a channel of
another colour space that no single Lab channel predicts). With 3 and 4 views, the core graph
(every view against L) and the full graph (every pair). As in the paper's NYU experiment,
the headline is the linear probe of the **L encoder's** features, whose size is the same in
every arm, so more views cannot win by a larger representation; the probe of all encoders'
features concatenated is reported beside it. The predictive baseline (``method.objective
predictive``) has the same encoders, views, steps and batch and predicts every other view's
pooled channels from each view's features. Design argument: docs/cmc_views.md.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .simclr_setup import add_data_arguments, base_config, chance_pct, linear_accuracy, load_and_check, steps

COMMAND = "cmc-views"
HELP = "CMC: 2, 3 or 4 colour-channel views, core and full graph, against cross-view prediction"
VIEWS = {2: "L,ab", 3: "L,a,b", 4: "L,a,b,S"}  # number of views -> channel groups
LADDER = (2, 3, 4)


def arm_name(n: int, graph: str, objective: str) -> str:
    groups = " / ".join(VIEWS[n].split(","))
    return f"{n} views ({groups}), " + (f"{graph}, " if n > 2 else "") + objective


# (number of views, graph, objective); at 2 views the core and full graphs are one pair
ARM_KEYS = [(2, "full", "contrastive"), (3, "core", "contrastive"), (3, "full", "contrastive"),
            (4, "core", "contrastive"), (4, "full", "contrastive"),
            (2, "full", "predictive"), (3, "full", "predictive"), (4, "full", "predictive")]
ARMS = {arm_name(*k): (VIEWS[k[0]], k[1], k[2]) for k in ARM_KEYS}  # arm: (channels, graph, objective)
DEFAULT_STEPS, QUICK_STEPS = 500, 30  # docs/cmc_views.md: measured cost and projection


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, DEFAULT_STEPS, QUICK_STEPS)


@torch.no_grad()
def view_features(encoder, images: torch.Tensor, view: int = 0) -> torch.Tensor:
    """Features of one view's encoder (0 = L) of a CMC ``Encoder``."""
    encoder.eval()
    return torch.cat([encoder.backbone.encode([encoder.preprocess(images[i:i + 500])])[view].float()
                      for i in range(0, len(images), 500)])


def probe_l(encoder, data) -> float:
    from ..eval.linear import linear_probe

    return 100 * linear_probe(view_features(encoder, data.train_images), data.train_labels,
                              view_features(encoder, data.test_images), data.test_labels)["top1"]


def comparisons(acc: dict) -> list[tuple[str, str, dict]]:
    """Every paired-by-seed difference the verdicts read: (kind, label, difference of the
    L-encoder probe, predicted larger minus predicted smaller). Kinds:
    ``step`` (one rung of the ladder), ``ends`` (4 views against 2), ``objective``
    (contrastive minus predictive, full graph)."""
    from ..studies.stats import difference

    out = []
    for graph in ("core", "full"):
        for kind, (big, small) in (("step", (3, 2)), ("step", (4, 3)), ("ends", (4, 2))):
            a, b = arm_name(big, graph, "contrastive"), arm_name(small, graph, "contrastive")
            out.append((kind, f"{big} minus {small} views, {graph} graph", difference(acc[a], acc[b])))
    for n in LADDER:
        a, b = arm_name(n, "full", "contrastive"), arm_name(n, "full", "predictive")
        out.append(("objective", f"contrastive minus predictive, {n} views", difference(acc[a], acc[b])))
    return out


def claims(acc: dict, quick: bool) -> list[dict]:
    from ..studies.stats import all_of

    if min(len(v) for v in acc.values()) < 2:
        return []
    parts = {kind: [d for k, _, d in comparisons(acc) if k == kind] for kind in ("step", "ends", "objective")}
    return [
        all_of("cmc.views", "more views, better: every rung of the ladder 2 -> 3 -> 4 views raises the L-encoder "
               "probe, core and full graph", parts["step"],
               "weakest of the paired differences 3-2 and 4-3 views, core and full graph (L encoder)", quick, "pts"),
        all_of("cmc.views.4-vs-2", "4 views beat 2 views (L-encoder probe), core and full graph", parts["ends"],
               "weaker of the paired differences 4-2 views, core and full graph (L encoder)", quick, "pts"),
        all_of("cmc.contrastive-vs-predictive", "contrastive beats cross-view prediction at equal budget (L encoder)",
               parts["objective"], "weakest of the paired differences contrastive minus predictive at 2, 3 and 4 "
               "views (full graph)", quick, "pts"),
    ]


def plot(acc: dict, concat: dict, random_l: float, random_all: float, chance: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..studies.results import error_bar
    from ..studies.stats import summarize

    lines = (("contrastive, core graph", "core", "contrastive", "tab:blue", "-"),
             ("contrastive, full graph", "full", "contrastive", "tab:green", "-"),
             ("predictive, full graph", "full", "predictive", "tab:red", "--"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, vals, title, random_init in ((axes[0], acc, "probe of the L encoder (headline)", random_l),
                                         (axes[1], concat, "probe of all encoders concatenated", random_all)):
        for k, (label, graph, objective, colour, style) in enumerate(lines):
            s = [summarize(vals[arm_name(n, graph, objective)]) for n in LADDER]
            ax.errorbar([n + (k - 1) * 0.05 for n in LADDER], [x["mean"] for x in s], yerr=[error_bar(x) for x in s],
                        color=colour, ls=style, marker="o", capsize=3, label=label)
        ax.axhline(random_init, color="grey", ls="--", label="random-init encoder (2-view architecture)")
        ax.axhline(chance, color="black", ls=":", label="chance")
        ax.set_xticks(LADDER, [f"{n}\n{' / '.join(VIEWS[n].split(','))}" for n in LADDER])
        ax.set_xlabel("number of views")
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("linear-probe accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle("CMC: number of views and objective (mean ± 95% CI over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(acc: dict, concat: dict, random_l: list[float], random_all: list[float], chance: float,
             settings: str, quick: bool) -> str:
    from ..eval.report import markdown_table
    from ..studies.results import fmt
    from ..studies.stats import summarize, verdict

    rows = [[n, fmt(summarize(acc[n])), fmt(summarize(concat[n]))] for n in ARMS if acc[n]]
    rows += [["random-init encoder (2 views)", fmt(summarize(random_l)), fmt(summarize(random_all))],
             ["chance", f"{chance:.1f}", f"{chance:.1f}"],
             ["paper (NYU RGB-D, ImageNet)", "more views better; contrastive > predictive", ""]]
    text = markdown_table(["arm", "probe of the L encoder (%)", "probe of all encoders (%)"], rows)
    if min(len(v) for v in acc.values()) >= 2:
        diffs = [[label, f"{d['mean']:+.2f} ± {d['ci95']:.2f}", verdict(d) + (" (quick)" if quick else "")]
                 for _, label, d in comparisons(acc)]
        text += ("\n\n### Paired differences (L encoder, per seed)\n\n"
                 + markdown_table(["comparison", "difference (pts, 95% CI)", "verdict"], diffs))
    return text + f"\n\n{settings}"


def run(args) -> int:
    from .. import load
    from ..build import resolve
    from ..encoder import Encoder
    from ..build import build_dataset
    from ..studies.results import Experiment
    from ..studies.stats import summarize

    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    exp = Experiment(COMMAND, args, total_runs=len(ARMS) * args.seeds)
    acc: dict[str, list[float]] = {n: [] for n in ARMS}
    concat: dict[str, list[float]] = {n: [] for n in ARMS}
    runs: dict[str, list[str]] = {n: [] for n in ARMS}
    random_l: list[float] = []
    random_all: list[float] = []
    data = None
    chance = chance_pct(args)
    settings = (f"Data {args.dataset}, one {args.backbone} (width {args.width}) per view, CMC temperature 0.07 with "
                f"in-batch negatives, crop + flip views, {n_steps} steps of batch {args.batch_size}; S is HSV "
                "saturation; predictive: MLP decoders to the other views' channels pooled to 8x8, squared error. "
                "Random init: the 2-view architecture, one per seed.")
    def arm_config(arm: tuple[str, str, str], seed: int, first: bool) -> dict:
        channels, graph, objective = arm
        method = {"name": "cmc", "channels": channels, "graph": graph, "objective": objective}
        return base_config(args, n_steps, seed, {"name": "crop", "n_views": 1}, method=method, random_baseline=first)

    def arm_name(arm: tuple[str, str, str], seed: int) -> str:
        channels, graph, objective = arm
        return f"{channels.replace(',', '-')}-{graph}-{objective}-seed{seed}"

    exp.train_ahead([(arm_config(arm, seed, i == 0), arm_name(arm, seed))
                     for seed in exp.seeds for i, arm in enumerate(ARMS.values())])
    for seed in exp.seeds:
        for i, (name, arm) in enumerate(ARMS.items()):
            cfg = arm_config(arm, seed, i == 0)
            path, metrics = exp.train(cfg, arm_name(arm, seed))
            if data is None:
                data = build_dataset(resolve(cfg))
            encoder = load(exp.out / path)
            concat[name].append(linear_accuracy(metrics))
            acc[name].append(probe_l(encoder, data))
            runs[name].append(path)
            if i == 0:
                random_all.append(linear_accuracy(metrics, "random init"))
                torch.manual_seed(seed)
                random_l.append(probe_l(Encoder.from_config(encoder.config), data))
            exp.progress(f"{name} seed {seed}", f"L encoder {acc[name][-1]:.1f}%, all {concat[name][-1]:.1f}%")
        complete = seed == exp.seeds[-1]
        points = [{"arm": n, "value": list(ARMS[n]), "metrics": {"l_linear_top1_pct": summarize(acc[n]),
                                                                  "all_linear_top1_pct": summarize(concat[n])},
                   "runs": runs[n]} for n in ARMS]
        points.append({"arm": "random init", "value": None,
                       "metrics": {"l_linear_top1_pct": summarize(random_l),
                                   "all_linear_top1_pct": summarize(random_all)}, "runs": []})
        plots = []
        if complete:
            plot(acc, concat, summarize(random_l)["mean"], summarize(random_all)["mean"], chance,
                 exp.out / "cmc_views.png")
            plots = ["cmc_views.png"]
        exp.write(points, claims(acc, exp.quick), markdown(acc, concat, random_l, random_all, chance, settings, exp.quick),
                  "CMC: number of views and contrastive vs predictive", extra={"chance_pct": chance, "steps": n_steps},
                  plots=plots, complete=complete)
    return 0
