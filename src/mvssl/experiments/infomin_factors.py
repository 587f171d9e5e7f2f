"""InfoMin Table 1 (Tian et al. 2020, Sec. 3.3): which factors the two views share decides what a
contrastive encoder keeps; the study is declared in ``infomin_factors.yaml`` beside this module
(docs/infomin_factors.md). Its factor probes and its supervised reference's stage are here."""
from __future__ import annotations

import json
from pathlib import Path

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)

_PROBED: dict = {}


def factor_error(run, metric: str, probe_train_frames: int | None = None) -> float:
    """The study's measures: one factor probe (``metric`` of :func:`mvssl.eval.probes.factor_probes`)
    of the run's encoder or its random-init twin, on the probe frames of the run's data (at most
    ``probe_train_frames`` of them train the probes); the three probes are fitted once per encoder."""
    from ..eval.probes import cached_probe_frames, factor_probes

    key = (str(run.run_dir), run.which, probe_train_frames)
    if key not in _PROBED:
        frames = cached_probe_frames(json.dumps(run.config["data"], sort_keys=True), probe_train_frames)
        _PROBED[key] = factor_probes(run.encoder, frames)
    return _PROBED[key][metric]


def train_supervised(cfg: dict, run_dir: Path) -> dict:
    """The study's stage for the supervised reference: digit cross-entropy (``supervised.py``)
    for the run's steps and seed, kept in the run folder like the other encoders."""
    from ..train.run_folder import write_config
    from .supervised import train_supervised_digit

    encoder = train_supervised_digit(cfg, cfg["trainer"]["max_steps"], cfg["trainer"]["seed"])
    write_config(run_dir, cfg)
    encoder.save(run_dir / "encoder.pt")
    return {}
