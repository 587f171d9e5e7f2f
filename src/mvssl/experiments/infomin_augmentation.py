"""InfoMin Aug (Tian et al. 2020, Sec. 4.2): I_NCE and accuracy along a ladder of augmentation;
the study is declared in ``infomin_augmentation.yaml`` beside this module
(docs/infomin_augmentation.md). Its digit measure is here."""
from __future__ import annotations

import json

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)


def digit_acc(run) -> float:
    """The study's measure: the digit linear probe (reverse_u's :func:`probe`) of the run's
    encoder or its random-init twin, on the probe frames of the run's data."""
    from ..eval.probes import cached_probe_frames
    from .reverse_u import probe

    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), ("digit",))["digit"]
