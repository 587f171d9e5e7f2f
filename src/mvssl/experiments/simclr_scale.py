"""SimCLR Sec. 5.2 and Fig. 9 (Chen et al. 2020): batch size and training length, contrastive
against supervised; the study is declared in ``simclr_scale.yaml`` beside this module
(docs/simclr_scale.md), whose supervised arms this module's stage trains."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)


def train_supervised(cfg: dict, run_dir: Path) -> dict:
    """The study's stage for a supervised arm: cross-entropy through a linear head
    (``supervised.py``) with the arm's batch, steps, optimiser and seed; the encoder kept in the
    run folder and evaluated as ``mvssl train`` evaluates its runs (beside its random-init twin)."""
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
