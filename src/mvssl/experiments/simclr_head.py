"""SimCLR Sec. 4.2 (Chen et al. 2020, Fig. 8 and Table 3): a nonlinear projection head g
between the representation h and the contrastive loss improves the linear probe of h, by
more than 10% over no head, more than a linear head does; and h is better than z = g(h).

Three SimCLR encoders per seed, identical but for the head (``method.head``: none, linear,
MLP), trained on crop + colour views of both branches; each is probed (linear probe on the
test split) on h (the backbone features) and on z (the head's output; z = h without a
head). The projection head is read from the run's last checkpoint. Design argument:
docs/simclr_head.md.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .simclr_setup import add_data_arguments, base_config, chance_pct, linear_accuracy, load_and_check, steps

COMMAND = "simclr-head"
HELP = "SimCLR's projection head: no head, linear, MLP; linear probe of h and of z = g(h)"
HEADS = ("none", "linear", "mlp")
DEFAULT_STEPS, QUICK_STEPS = 300, 60
PAPER_GAIN_PTS = 10.0  # "improving ... the linear classifier ... by more than 10%" (seed 004)


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, DEFAULT_STEPS, QUICK_STEPS)


@torch.no_grad()
def projections(run_dir: Path, images: torch.Tensor) -> torch.Tensor:
    """z = g(h) of ``images`` for the SimCLR run in ``run_dir``: the method rebuilt from its
    config and loaded from its newest complete checkpoint (``weights_only``)."""
    from ..build import load_method
    from ..encoder import Encoder

    cfg, method = load_method(run_dir)
    pre = Encoder.from_config(cfg)
    out = [method.projector(method.backbone(pre.preprocess(images[i:i + 500]))) for i in range(0, len(images), 500)]
    return torch.cat(out).float()


def probe_z(run_dir: Path, data) -> float:
    from ..eval.linear import linear_probe

    ztr, zte = projections(run_dir, data.train_images), projections(run_dir, data.test_images)
    return 100 * linear_probe(ztr, data.train_labels, zte, data.test_labels)["top1"]


def claims(acc: dict, quick: bool) -> list[dict]:
    from ..studies.stats import claim, difference

    if len(acc["mlp", "h"]) < 2:
        return []
    gain = difference(acc["mlp", "h"], acc["none", "h"])
    above = {**gain, "mean": gain["mean"] - PAPER_GAIN_PTS}
    return [
        claim("simclr.head", "h with an MLP head beats h without a head", gain,
              "paired difference of h's linear-probe accuracy, MLP head minus no head", quick, "pts"),
        claim("simclr.head.gain", f"the MLP head's gain over no head exceeds {PAPER_GAIN_PTS:.0f} points", above,
              f"(MLP minus no head) minus {PAPER_GAIN_PTS:.0f} points", quick, "pts"),
        claim("simclr.head.nonlinear", "an MLP head beats a linear head (probe on h)",
              difference(acc["mlp", "h"], acc["linear", "h"]), "paired difference on h, MLP minus linear", quick,
              "pts"),
        claim("simclr.head.linear", "a linear head beats no head (probe on h)",
              difference(acc["linear", "h"], acc["none", "h"]), "paired difference on h, linear minus none", quick,
              "pts"),
        claim("simclr.head.h-vs-z", "with the MLP head, h beats z = g(h)",
              difference(acc["mlp", "h"], acc["mlp", "z"]), "paired difference, MLP head, h minus z", quick, "pts"),
    ]


def plot(acc: dict, random_init: float, chance: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..studies.stats import summarize

    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.38
    for k, (rep, colour) in enumerate((("h", "tab:blue"), ("z", "tab:orange"))):
        s = [summarize(acc[head, rep]) for head in HEADS]
        ax.bar([i + (k - 0.5) * width for i in range(len(HEADS))], [x["mean"] for x in s], width,
               yerr=[x["ci95"] if len(x["per_seed"]) > 1 else 0 for x in s], capsize=4, color=colour,
               label=f"probe on {rep}" + (" (= h without a head)" if rep == "z" else ""))
    ax.axhline(random_init, color="grey", ls="--", label="random-init encoder")
    ax.axhline(chance, color="black", ls=":", label="chance")
    ax.set_xticks(range(len(HEADS)), ["no head", "linear head", "MLP head"])
    ax.set_ylabel("linear-probe accuracy (%)")
    ax.set_xlabel("projection head g")
    ax.set_title("SimCLR projection head (mean ± 95% CI over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(acc: dict, random_init: list[float], chance: float, settings: str) -> str:
    from ..eval.report import markdown_table
    from ..studies.results import fmt
    from ..studies.stats import summarize

    rows = [[head, fmt(summarize(acc[head, "h"])), fmt(summarize(acc[head, "z"]))] for head in HEADS
            if acc.get((head, "h"))]
    rows.append(["random-init encoder", fmt(summarize(random_init)), "-"])
    rows.append(["chance", f"{chance:.1f}", "-"])
    rows.append(["paper (ImageNet, Sec. 4.2)", "MLP head: > 10% above no head; h > z", "-"])
    return (markdown_table(["projection head", "linear probe on h (%)", "linear probe on z = g(h) (%)"], rows)
            + f"\n\n{settings}")


def run(args) -> int:
    from ..build import build_dataset
    from ..build import resolve
    from ..studies.results import Experiment
    from ..studies.stats import summarize

    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    exp = Experiment(COMMAND, args, total_runs=len(HEADS) * args.seeds)
    data = None
    acc: dict[tuple, list[float]] = {(h, r): [] for h in HEADS for r in ("h", "z")}
    runs: dict[str, list[str]] = {h: [] for h in HEADS}
    random_init: list[float] = []
    chance = chance_pct(args)
    settings = (f"Data {args.dataset}, {args.backbone} width {args.width}, SimCLR temperature 0.5 on crop -> colour "
                f"views of both branches, {n_steps} steps of batch {args.batch_size}; MLP head: Linear(D, 512) - BN - "
                "ReLU - Linear(512, 128); linear head: Linear(D, 128); no head: the loss reads h.")
    def head_config(head: str, seed: int, first: bool) -> dict:
        views = {"name": "compose", "compose": ["crop", "color"], "branches": "both"}
        return base_config(args, n_steps, seed, views, method={"head": head}, random_baseline=first)

    exp.train_ahead([(head_config(head, seed, i == 0), f"{head}-seed{seed}")
                     for seed in exp.seeds for i, head in enumerate(HEADS)])
    for seed in exp.seeds:
        for i, head in enumerate(HEADS):
            cfg = head_config(head, seed, i == 0)
            path, metrics = exp.train(cfg, f"{head}-seed{seed}")
            if data is None:
                data = build_dataset(resolve(cfg))
            acc[head, "h"].append(linear_accuracy(metrics))
            acc[head, "z"].append(probe_z(exp.out / path, data))
            runs[head].append(path)
            if i == 0:
                random_init.append(linear_accuracy(metrics, "random init"))
            exp.progress(f"{head} head seed {seed}", f"probe h {acc[head, 'h'][-1]:.1f}%, z {acc[head, 'z'][-1]:.1f}%")
        complete = seed == exp.seeds[-1]
        points = [{"arm": head, "value": head,
                   "metrics": {"h_linear_top1_pct": summarize(acc[head, "h"]),
                               "z_linear_top1_pct": summarize(acc[head, "z"])}, "runs": runs[head]} for head in HEADS]
        points.append({"arm": "random init", "value": None, "metrics": {"h_linear_top1_pct": summarize(random_init)},
                       "runs": []})
        plots = []
        if complete:
            plot(acc, summarize(random_init)["mean"], chance, exp.out / "projection_head.png")
            plots = ["projection_head.png"]
        exp.write(points, claims(acc, exp.quick), markdown(acc, random_init, chance, settings),
                  "SimCLR projection head (Sec. 4.2)", extra={"chance_pct": chance, "steps": n_steps}, plots=plots,
                  complete=complete)
    return 0
