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
(difference of gains, paired by seed: an interaction contrast of a study, :mod:`mvssl.studies`;
the supervised arms are trained by this module's stage :func:`train_supervised`). Every arm
must beat its random-init twin and stay 2 points below 100. Design argument:
docs/simclr_scale.md.
"""
from __future__ import annotations

from pathlib import Path

from .simclr_setup import add_data_arguments, base_config, chance_pct, load_and_check

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


def arm_name(learner: str, batch: int, epochs: int) -> str:
    return f"{learner}-b{batch}-e{epochs}"


def train_supervised(cfg: dict, run_dir: Path) -> dict:
    """The study's stage for a supervised arm: cross-entropy through a linear head
    (``supervised.py``) with the arm's batch, steps, optimiser and seed; the encoder kept in the
    run folder and evaluated as ``mvssl train`` evaluates its runs (beside its random-init twin)."""
    import yaml

    from ..build import build_dataset
    from ..train.finish import evaluate_labelled
    from .supervised import train_supervised_labels

    data = build_dataset(cfg)
    t = cfg["trainer"]
    encoder = train_supervised_labels(cfg, data.train_images, data.train_labels, t["max_steps"],
                                      cfg["optim"]["batch_size"], t["seed"])
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    encoder.save(run_dir / "encoder.pt")
    return evaluate_labelled(cfg, encoder.eval(), data, echo=lambda *a, **k: None)


def study(args, batches: list[int], epochs: list[int], n_images: int) -> dict:
    plan = {(b, e): max(10, e * n_images // b) for b in batches for e in epochs}
    views = {"name": "compose", "compose": ["crop", "color"], "branches": "both"}
    arms = {}
    for learner in ("simclr", "supervised"):
        for (b, e), n_steps in plan.items():
            arm = {"optim": {"batch_size": b, "lr": learning_rate(b, args.lr_scaling), "warmup_steps": min(20, n_steps // 5)},
                   "trainer": {"max_steps": n_steps, "checkpoint_every": n_steps}, "x": [learner, b, e]}
            if learner == "supervised":
                arm["train"] = "mvssl.experiments.simclr_scale.train_supervised"
            arms[arm_name(learner, b, e)] = arm
    top, small, long_, short = batches[-1], batches[0], epochs[-1], epochs[0]
    acc = "linear_top1_pct"
    s, u = (lambda b, e: f"{arm_name('simclr', b, e)}.{acc}"), (lambda b, e: f"{arm_name('supervised', b, e)}.{acc}")
    return {
        "study": COMMAND,
        "description": f"SimCLR's scale claim on {args.dataset} ({n_images} training images): {args.backbone} width "
                       f"{args.width}, AdamW, learning rate scaled {args.lr_scaling} with the batch, the same for both "
                       "learners, warm-up + cosine; steps = epochs x images / batch. SimCLR: MLP head, temperature "
                       "0.5, crop -> colour on both branches. Supervised: cross-entropy, crop + flip. Both probed by "
                       "the same linear probe on frozen features. Paper (ImageNet, Fig. 9): bigger batches and longer "
                       "training help SimCLR more than supervised learning.",
        "base": base_config(args, plan[top, long_], 0, views, random_baseline=True),
        "arms": arms,
        "seeds": args.seeds,
        "measures": {acc: {"measure": "linear"}},
        "references": {"random_init": True, "chance": chance_pct(args),
                       "supervised": arm_name("supervised", top, long_)},
        "gates": [{"learns": acc}, {"ceiling": acc, "at": 100, "margin": 2}],
        "predictions": [
            {"id": "batch", "claim": "simclr.scale",
             "says": f"batch {small} -> {top} helps SimCLR more than supervised ({long_} epochs)",
             "contrast": f"({s(top, long_)} - {s(small, long_)}) - ({u(top, long_)} - {u(small, long_)}) > 0"},
            {"id": "length", "claim": "simclr.scale",
             "says": f"{short} -> {long_} epochs helps SimCLR more than supervised (batch {top})",
             "contrast": f"({s(top, long_)} - {s(top, short)}) - ({u(top, long_)} - {u(top, short)}) > 0"},
            {"id": "batch-helps", "claim": "simclr.scale", "says": f"SimCLR gains from batch {small} -> {top}",
             "contrast": f"{s(top, long_)} - {s(small, long_)} > 0"},
        ],
    }


def plot(points: list[dict], batches, epochs, chance: float, path: Path) -> None:
    from ..studies.plots import figure
    from ..studies.results import error_bar

    by_arm = {p["arm"]: p["metrics"]["linear_top1_pct"] for p in points if "linear_top1_pct" in p["metrics"]}
    rand = next((p["random_init"]["linear_top1_pct"]["mean"] for p in points
                 if "linear_top1_pct" in p.get("random_init", {})), None)
    with figure(path, 2, (10, 4), sharey=True) as (fig, axes):
        for ax, (learner, title) in zip(axes, (("simclr", "SimCLR"), ("supervised", "supervised"))):
            for e in epochs:
                s = [by_arm[arm_name(learner, b, e)] for b in batches]
                ax.errorbar(batches, [x["mean"] for x in s], yerr=[error_bar(x) for x in s], marker="o", capsize=3,
                            label=f"{e} epochs")
            if rand is not None:
                ax.axhline(rand, color="grey", ls="--", label="random-init encoder")
            ax.axhline(chance, color="black", ls=":", label="chance")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("batch size")
            ax.set_title(f"{title} (mean ± 95% CI)")
            ax.legend(fontsize=8)
        axes[0].set_ylabel("linear-probe accuracy (%)")


def run(args) -> int:
    from ..studies.engine import run_declared

    batches = _ints(args.batch_sizes, QUICK_BATCHES if args.quick else DEFAULT_BATCHES, "--batch-sizes")
    epochs = _ints(args.epochs, QUICK_EPOCHS if args.quick else DEFAULT_EPOCHS, "--epochs")
    n_images = load_and_check(args, batches)

    def draw(out: Path, points: list[dict]) -> list[str]:
        plot(points, batches, epochs, chance_pct(args), out / "scale.png")
        return ["scale.png"]

    run_declared(study(args, batches, epochs, n_images), args, echo=lambda *a, **k: print(*a, **k, flush=True),
                 extra_plots=draw)
    return 0
