"""SimCLR Sec. 5.2 and Fig. 9 (Chen et al. 2020): contrastive learning benefits from larger
batches and longer training more than supervised learning does.

For every batch size in ``--batch-sizes`` and every length in ``--epochs`` (passes over the
training set, so steps = epochs x N / batch, as in the paper's figure) one SimCLR encoder
(crop -> colour on both branches) and one supervised encoder of the same architecture
(cross-entropy through a linear head, crop + flip, the same optimiser, schedule, batch and
steps) are trained per seed, and both are probed the same way (linear probe of frozen
features on the test split). The gains are paired by seed:

    batch gain  = acc(largest batch, longest) - acc(smallest batch, longest)
    length gain = acc(largest batch, longest) - acc(largest batch, shortest)

and the claim is that each gain is larger for SimCLR than for the supervised encoder
(difference of gains, paired by seed). Design argument: docs/simclr_scale.md.
"""
from __future__ import annotations

from pathlib import Path

from .simclr_setup import add_data_arguments, base_config, chance_pct, linear_accuracy, load_and_check

COMMAND = "simclr-scale"
HELP = "SimCLR Fig. 9: batch size and training length, contrastive against supervised"
DEFAULT_BATCHES, QUICK_BATCHES = (32, 128, 512), (32, 128)
DEFAULT_EPOCHS, QUICK_EPOCHS = (5, 20), (2, 5)
BASE_LR, BASE_BATCH = 2e-3, 64  # the AdamW learning rate of the other experiments, at their batch
LR_SCALINGS = ("sqrt", "linear", "none")


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, 0, 0)
    p.add_argument("--batch-sizes", help=f"comma-separated batch sizes (default {','.join(map(str, DEFAULT_BATCHES))};"
                   f" --quick {','.join(map(str, QUICK_BATCHES))})")
    p.add_argument("--epochs", help=f"comma-separated training lengths in epochs (default "
                   f"{','.join(map(str, DEFAULT_EPOCHS))}; --quick {','.join(map(str, QUICK_EPOCHS))})")
    p.add_argument("--lr-scaling", default="sqrt", choices=LR_SCALINGS,
                   help=f"learning rate at batch B, for both learners: {BASE_LR} x sqrt(B / {BASE_BATCH}) (default; "
                   f"the rule for Adam-type optimisers, and SimCLR's own choice for long runs, App. B.1), "
                   f"{BASE_LR} x B / {BASE_BATCH} (SimCLR's LARS rule), or {BASE_LR} at every batch")


def learning_rate(batch: int, scaling: str) -> float:
    """The learning rate both learners use at ``batch`` under ``scaling`` (``LR_SCALINGS``)."""
    factor = {"sqrt": (batch / BASE_BATCH) ** 0.5, "linear": batch / BASE_BATCH, "none": 1.0}[scaling]
    return BASE_LR * factor


def _ints(text: str | None, default, option: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",")}) if text else list(default)
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated integers, got {text!r}") from None
    if len(values) < 2 or min(values) < 1:
        raise ValueError(f"{option}: need at least two distinct positive values, got {values}")
    return values


def gains(acc: dict, batches: list[int], epochs: list[int]) -> dict:
    """Per-seed batch and length gains of one learner from ``acc[(batch, epochs)]``."""
    top, long_ = batches[-1], epochs[-1]
    sub = lambda a, b: [x - y for x, y in zip(a, b)]  # noqa: E731
    return {"batch": sub(acc[top, long_], acc[batches[0], long_]), "length": sub(acc[top, long_], acc[top, epochs[0]])}


def claims(contrastive: dict, supervised: dict, batches, epochs, quick: bool) -> list[dict]:
    from ..studies.stats import claim, difference

    c, s = gains(contrastive, batches, epochs), gains(supervised, batches, epochs)
    if len(c["batch"]) < 2:
        return []
    return [
        claim("simclr.scale.batch", f"batch {batches[0]} -> {batches[-1]} helps SimCLR more than supervised",
              difference(c["batch"], s["batch"]), f"paired difference of the gains at {epochs[-1]} epochs "
              "(SimCLR gain minus supervised gain)", quick, "pts"),
        claim("simclr.scale.length", f"{epochs[0]} -> {epochs[-1]} epochs helps SimCLR more than supervised",
              difference(c["length"], s["length"]), f"paired difference of the gains at batch {batches[-1]}", quick,
              "pts"),
        claim("simclr.scale.batch-helps", f"SimCLR gains from batch {batches[0]} -> {batches[-1]}",
              difference(c["batch"], [0.0] * len(c["batch"])), "paired gain of SimCLR's accuracy", quick, "pts"),
    ]


def plot(contrastive: dict, supervised: dict, batches, epochs, random_init: float, chance: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..studies.stats import summarize

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, (acc, title) in zip(axes, ((contrastive, "SimCLR"), (supervised, "supervised"))):
        for e in epochs:
            s = [summarize(acc[b, e]) for b in batches]
            ax.errorbar(batches, [x["mean"] for x in s], yerr=[x["ci95"] if len(x["per_seed"]) > 1 else 0 for x in s],
                        marker="o", capsize=3, label=f"{e} epochs")
        ax.axhline(random_init, color="grey", ls="--", label="random-init encoder")
        ax.axhline(chance, color="black", ls=":", label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_title(f"{title} (mean ± 95% CI)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("linear-probe accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(contrastive, supervised, batches, epochs, random_init, chance, settings) -> str:
    from ..eval.report import markdown_table
    from ..studies.results import fmt
    from ..studies.stats import summarize

    rows = [[b, e, fmt(summarize(contrastive[b, e])) if contrastive.get((b, e)) else "-",
             fmt(summarize(supervised[b, e])) if supervised.get((b, e)) else "-"] for b in batches for e in epochs]
    rows += [["random-init encoder", "-", fmt(summarize(random_init)), ""], ["chance", "-", f"{chance:.1f}", ""],
             ["paper (ImageNet, Fig. 9)", "100-800", "bigger batch and longer help SimCLR more", ""]]
    return markdown_table(["batch", "epochs", "SimCLR linear probe (%)", "supervised linear probe (%)"], rows) + \
        f"\n\n{settings}"


def supervised_encoder(exp, cfg: dict, data, n_steps: int, batch: int, seed: int, name: str) -> tuple[str, object]:
    """Train (or, with --resume, reuse) a supervised encoder kept in OUT/encoders/NAME."""
    import yaml

    from .. import load
    from ..build import resolve
    from .supervised import train_supervised_labels

    run_dir = exp.run_path(name)
    if exp.resume and (run_dir / "encoder.pt").exists():
        return str(run_dir.relative_to(exp.out)), load(run_dir)
    cfg = resolve(cfg)
    encoder = train_supervised_labels(cfg, data.train_images, data.train_labels, n_steps, batch, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    encoder.save(run_dir / "encoder.pt")
    return str(run_dir.relative_to(exp.out)), encoder


def run(args) -> int:
    from ..build import resolve
    from ..eval.linear import linear_probe
    from ..build import build_dataset
    from ..studies.results import Experiment
    from ..studies.stats import summarize

    batches = _ints(args.batch_sizes, QUICK_BATCHES if args.quick else DEFAULT_BATCHES, "--batch-sizes")
    epochs = _ints(args.epochs, QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS, "--epochs")
    n_images = load_and_check(args, batches)
    plan = {(b, e): max(10, e * n_images // b) for b in batches for e in epochs}
    exp = Experiment(COMMAND, args, total_runs=2 * len(plan) * args.seeds)
    contrastive: dict[tuple, list[float]] = {k: [] for k in plan}
    supervised: dict[tuple, list[float]] = {k: [] for k in plan}
    runs: dict[tuple, dict[str, list[str]]] = {k: {"simclr": [], "supervised": []} for k in plan}
    random_init: list[float] = []
    data, chance = None, chance_pct(args)
    lrs = {b: learning_rate(b, args.lr_scaling) for b in batches}
    settings = (f"Data {args.dataset} ({n_images} training images), {args.backbone} width {args.width}, AdamW, "
                f"learning rate scaled {args.lr_scaling} with the batch ("
                + ", ".join(f"batch {b}: {lr:.2g}" for b, lr in lrs.items())
                + "), the same for both learners, warm-up + cosine; steps = epochs x images / batch: "
                + ", ".join(f"batch {b} x {e} ep = {s} steps" for (b, e), s in plan.items())
                + ". SimCLR: MLP head, temperature 0.5, crop -> colour on both branches. Supervised: cross-entropy, "
                "crop + flip. Both probed by the same linear probe on frozen features.")
    def simclr_config(b: int, n_steps: int, seed: int, first: bool) -> dict:
        views = {"name": "compose", "compose": ["crop", "color"], "branches": "both"}
        cfg = base_config(args, n_steps, seed, views, random_baseline=first, batch_size=b)
        cfg["optim"]["lr"] = lrs[b]
        return cfg

    exp.train_ahead([(simclr_config(b, n_steps, seed, i == 0), f"simclr-b{b}-e{e}-seed{seed}")
                     for seed in exp.seeds for i, ((b, e), n_steps) in enumerate(plan.items())])
    for seed in exp.seeds:
        for i, ((b, e), n_steps) in enumerate(plan.items()):
            cfg = simclr_config(b, n_steps, seed, i == 0)
            path, metrics = exp.train(cfg, f"simclr-b{b}-e{e}-seed{seed}")
            contrastive[b, e].append(linear_accuracy(metrics))
            runs[b, e]["simclr"].append(path)
            if i == 0:
                random_init.append(linear_accuracy(metrics, "random init"))
            exp.progress(f"SimCLR batch {b}, {e} epochs, seed {seed}", f"linear probe {contrastive[b, e][-1]:.1f}%")
            if data is None:
                data = build_dataset(resolve(cfg))
            path, encoder = supervised_encoder(exp, cfg, data, n_steps, b, seed, f"supervised-b{b}-e{e}-seed{seed}")
            supervised[b, e].append(100 * linear_probe(encoder.embed(data.train_images), data.train_labels,
                                                       encoder.embed(data.test_images), data.test_labels)["top1"])
            runs[b, e]["supervised"].append(path)
            exp.progress(f"supervised batch {b}, {e} epochs, seed {seed}", f"linear probe {supervised[b, e][-1]:.1f}%")
        complete = seed == exp.seeds[-1]
        points = [{"arm": f"{learner} batch {b} epochs {e}", "value": [b, e],
                   "metrics": {"linear_top1_pct": summarize(acc[b, e])}, "runs": runs[b, e][learner]}
                  for learner, acc in (("simclr", contrastive), ("supervised", supervised)) for b, e in plan]
        points.append({"arm": "random init", "value": None, "metrics": {"linear_top1_pct": summarize(random_init)},
                       "runs": []})
        plots = []
        if complete:
            plot(contrastive, supervised, batches, epochs, summarize(random_init)["mean"], chance,
                 exp.out / "scale.png")
            plots = ["scale.png"]
        exp.write(points, claims(contrastive, supervised, batches, epochs, exp.quick),
                  markdown(contrastive, supervised, batches, epochs, random_init, chance, settings),
                  "SimCLR: batch size and training length against supervised",
                  extra={"chance_pct": chance, "steps": {f"{b},{e}": s for (b, e), s in plan.items()},
                         "lr_scaling": args.lr_scaling, "lr": {str(b): lr for b, lr in lrs.items()}},
                  plots=plots, complete=complete)
    return 0
