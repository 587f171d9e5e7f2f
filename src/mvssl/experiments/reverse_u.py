"""InfoMin's reverse-U (Tian et al. 2020, Sec. 3.2, Figs. 2-3): accuracy against I_NCE along a
shared-information knob and patch distance; the study is declared in ``reverse_u.yaml`` beside
this module (docs/reverse_u.md). The knob's views and the factor probes are here."""
from __future__ import annotations

import json

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)


def shared_factors(v: float) -> list[str]:
    """The ``views.shared`` entries of shared-information knob value ``v`` (see the docstring)."""
    if not -1.0 <= v <= 2.0:
        raise ValueError(f"shared-information knob values lie in [-1, 2], got {v:g}")
    if v < 0:
        return [f"digit:{1.0 + v:g}"]
    if v <= 1:
        return ["digit", f"background:{v:g}"] if v > 0 else ["digit"]
    return ["digit", "background", f"position:{v - 1.0:g}"]


def prepare(values: dict) -> dict:
    return {"shared_factors": shared_factors}


def probe(encoder, frames, targets) -> dict[str, float]:
    from ..eval.linear import linear_probe

    (xtr, ftr), (xte, fte) = frames["train"], frames["test"]
    htr, hte = encoder.embed(xtr), encoder.embed(xte)
    return {t: 100 * linear_probe(htr, ftr[t], hte, fte[t])["top1"] for t in targets}


def factor_acc(run, target: str) -> float | None:
    """The study's measures: the linear probe of ``target`` (digit or background) of the run's
    encoder or its random-init twin, on the probe frames of the run's own data; None where the
    arm's knob is not read on that target (patches: the digit only)."""
    from ..eval.probes import cached_probe_frames

    if run.config["views"]["name"] == "patches" and target != "digit":
        return None
    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), (target,))[target]
