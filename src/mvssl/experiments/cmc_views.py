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
pooled channels from each view's features. A study (:mod:`mvssl.studies`) declared from the
options: the L-encoder probe is this module's measure :func:`l_probe`, every arm is gated on
beating its random-init twin on it. Design argument: docs/cmc_views.md.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .simclr_setup import add_data_arguments, base_config, chance_pct, load_and_check, steps

COMMAND = "cmc-views"
HELP = "CMC: 2, 3 or 4 colour-channel views, core and full graph, against cross-view prediction"
VIEWS = {2: "L,ab", 3: "L,a,b", 4: "L,a,b,S"}  # number of views -> channel groups
LADDER = (2, 3, 4)


# (number of views, graph, objective); at 2 views the core and full graphs are one pair
ARM_KEYS = [(2, "full", "contrastive"), (3, "core", "contrastive"), (3, "full", "contrastive"),
            (4, "core", "contrastive"), (4, "full", "contrastive"),
            (2, "full", "predictive"), (3, "full", "predictive"), (4, "full", "predictive")]
DEFAULT_STEPS, QUICK_STEPS = 500, 30  # docs/cmc_views.md: measured cost and projection
L, ALL = "l_linear_top1_pct", "all_linear_top1_pct"


def arm_name(n: int, graph: str, objective: str) -> str:
    """``v3-core``, ``v4-full``, ``v2``; ``-pred`` for the predictive baseline."""
    return f"v{n}" + (f"-{graph}" if n > 2 and objective == "contrastive" else "") + \
        ("-pred" if objective == "predictive" else "")


ARMS = {arm_name(*k): (VIEWS[k[0]], k[1], k[2]) for k in ARM_KEYS}  # arm: (channels, graph, objective)


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


_DATA: dict = {}


def l_probe(run) -> float:
    """The study's measure ``l_linear_top1_pct``: the linear probe of the L encoder's features
    (the trained run, or its random-init twin), on the dataset's own split."""
    import json

    from ..build import build_dataset

    key = json.dumps(run.config["data"], sort_keys=True, default=str)
    if key not in _DATA:
        _DATA[key] = build_dataset(run.config)
    return probe_l(run.encoder, _DATA[key])


def study(args) -> dict:
    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    rungs = [f"{arm_name(big, g, 'contrastive')}.{L} - {arm_name(small, g, 'contrastive')}.{L} > 0"
             for g in ("core", "full") for big, small in ((3, 2), (4, 3))]
    objective = [f"{arm_name(n, 'full', 'contrastive')}.{L} - {arm_name(n, 'full', 'predictive')}.{L} > 0"
                 for n in LADDER]
    return {
        "study": COMMAND,
        "description": f"CMC on {args.dataset}: one {args.backbone} (width {args.width}) per view, temperature 0.07 "
                       f"with in-batch negatives, crop + flip views, {n_steps} steps of batch {args.batch_size}; S is "
                       "HSV saturation; predictive: MLP decoders to the other views' channels pooled to 8x8, squared "
                       "error. Headline: the probe of the L encoder (the same size in every arm); the probe of all "
                       "encoders concatenated beside it. Paper (NYU RGB-D, ImageNet): more views better, contrastive "
                       "above predictive.",
        "base": base_config(args, n_steps, 0, {"name": "crop", "n_views": 1}, method={"name": "cmc"},
                            random_baseline=True),
        "arms": {name: {"method": {"channels": ch, "graph": g, "objective": o}, "x": [ch, g, o]}
                 for name, (ch, g, o) in ARMS.items()},
        "seeds": args.seeds,
        "measures": {L: {"measure": "mvssl.experiments.cmc_views.l_probe", "unit": "%"}, ALL: {"measure": "linear"}},
        "references": {"random_init": True, "chance": chance_pct(args)},
        "gates": [{"learns": L}],
        "predictions": [
            {"id": "more-views-better", "claim": "cmc.views", "all_of": rungs,
             "says": "every rung of the ladder 2 -> 3 -> 4 views raises the L-encoder probe, core and full graph",
             "refuted_by": "a rung that lowers the probe, below 0 at the level shared among the rungs"},
            {"id": "contrastive-beats-predictive", "claim": "cmc.contrastive-vs-predictive", "all_of": objective,
             "says": "contrastive beats cross-view prediction at equal budget (L encoder, full graph)"},
        ],
    }


def plot(points: list[dict], chance: float, path: Path) -> None:
    from ..studies.plots import figure
    from ..studies.results import error_bar

    by_arm = {p["arm"]: p for p in points}
    lines = (("contrastive, core graph", "core", "contrastive", "tab:blue", "-"),
             ("contrastive, full graph", "full", "contrastive", "tab:green", "-"),
             ("predictive, full graph", "full", "predictive", "tab:red", "--"))
    with figure(path, 2, (10, 4.2), sharey=True) as (fig, axes):
        for ax, key, title in ((axes[0], L, "probe of the L encoder (headline)"),
                               (axes[1], ALL, "probe of all encoders concatenated")):
            for k, (label, graph, objective, colour, style) in enumerate(lines):
                s = [by_arm[arm_name(n, graph, objective)]["metrics"][key] for n in LADDER]
                ax.errorbar([n + (k - 1) * 0.05 for n in LADDER], [x["mean"] for x in s], yerr=[error_bar(x) for x in s],
                            color=colour, ls=style, marker="o", capsize=3, label=label)
            rand = by_arm[arm_name(2, "full", "contrastive")].get("random_init", {}).get(key)
            if rand:
                ax.axhline(rand["mean"], color="grey", ls="--", label="random-init encoder (2-view architecture)")
            ax.axhline(chance, color="black", ls=":", label="chance")
            ax.set_xticks(LADDER, [f"{n}\n{' / '.join(VIEWS[n].split(','))}" for n in LADDER])
            ax.set_xlabel("number of views")
            ax.set_title(title, fontsize=10)
        axes[0].set_ylabel("linear-probe accuracy (%)")
        axes[0].legend(fontsize=8)
        fig.suptitle("CMC: number of views and objective (mean ± 95% CI over seeds)")


def run(args) -> int:
    from ..studies.engine import run_declared

    steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])

    def draw(out: Path, points: list[dict]) -> list[str]:
        plot(points, chance_pct(args), out / "cmc_views.png")
        return ["cmc_views.png"]

    run_declared(study(args), args, echo=lambda *a, **k: print(*a, **k, flush=True), extra_plots=draw)
    return 0
