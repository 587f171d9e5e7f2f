"""SimCLR Sec. 4.2 (Chen et al. 2020, Fig. 8 and Table 3): a nonlinear projection head g
between the representation h and the contrastive loss improves the linear probe of h, by
more than 10% over no head (ImageNet), more than a linear head does; and h is better than
z = g(h).

A study (:mod:`mvssl.studies`): three SimCLR arms per seed, identical but for the head
(``method.head``: none, linear, MLP), trained on crop + colour views of both branches; the
measures are the linear probe of h (the run's own evaluation) and of z (the ``linear_z``
measure: the head read from the run's last checkpoint; z = h without a head). Gates: every
arm beats its random-init twin on h and sits below the ceiling. Design argument:
docs/simclr_head.md.
"""
from __future__ import annotations

from .simclr_setup import add_data_arguments, base_config, chance_pct, load_and_check, steps

COMMAND = "simclr-head"
HELP = "SimCLR's projection head: no head, linear, MLP; linear probe of h and of z = g(h)"
HEADS = ("none", "linear", "mlp")
DEFAULT_STEPS, QUICK_STEPS = 300, 60
PAPER_GAIN_PTS = 10.0  # "improving ... the linear classifier ... by more than 10%" (seed 004): a reference
H, Z = "h_linear_top1_pct", "z_linear_top1_pct"


def add_arguments(p) -> None:
    from ..studies.results import add_common_arguments

    add_common_arguments(p)
    add_data_arguments(p, DEFAULT_STEPS, QUICK_STEPS)


def study(args) -> dict:
    """The study this experiment runs for ``args`` (written to OUT/study.yaml)."""
    n_steps = steps(args, DEFAULT_STEPS, QUICK_STEPS)
    views = {"name": "compose", "compose": ["crop", "color"], "branches": "both"}
    return {
        "study": COMMAND,
        "description": f"SimCLR's projection head (Sec. 4.2) on {args.dataset}: {args.backbone} width {args.width}, "
                       f"temperature 0.5 on crop -> colour views of both branches, {n_steps} steps of batch "
                       f"{args.batch_size}; MLP head Linear(D, 512) - BN - ReLU - Linear(512, 128), linear head "
                       "Linear(D, 128), no head: the loss reads h. Paper (ImageNet): MLP more than 10 points above "
                       "no head on h; h above z.",
        "base": base_config(args, n_steps, 0, views, random_baseline=True),
        "arms": {head: {"method": {"head": head}} for head in HEADS},
        "seeds": args.seeds,
        "measures": {H: {"measure": "linear"}, Z: {"measure": "linear_z"}},
        "references": {"random_init": True, "chance": chance_pct(args)},
        "gates": [{"learns": H}, {"ceiling": H, "at": 100, "margin": 1}],
        "predictions": [
            {"id": "head-helps", "claim": "simclr.head", "contrast": f"mlp.{H} - none.{H} > 0",
             "says": f"a nonlinear head improves the linear probe of h over no head (paper: by more than "
                     f"{PAPER_GAIN_PTS:.0f} points on ImageNet)",
             "refuted_by": "h with the MLP head below h without a head, the interval below 0"},
            {"id": "nonlinear-beats-linear", "claim": "simclr.head", "contrast": f"mlp.{H} - linear.{H} > 0",
             "says": "an MLP head beats a linear head (probe on h)"},
            {"id": "linear-beats-none", "claim": "simclr.head", "contrast": f"linear.{H} - none.{H} > 0",
             "says": "a linear head beats no head (probe on h)"},
            {"id": "h-beats-z", "claim": "simclr.head", "contrast": f"mlp.{H} - mlp.{Z} > 0",
             "says": "with the MLP head, h beats z = g(h)"},
        ],
    }


def run(args) -> int:
    from ..studies.engine import run_declared

    steps(args, DEFAULT_STEPS, QUICK_STEPS)
    load_and_check(args, [args.batch_size])
    run_declared(study(args), args, echo=lambda *a, **k: print(*a, **k, flush=True))
    return 0
