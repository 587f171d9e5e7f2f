"""CMC (Tian, Krishnan & Isola 2019): L with the views a, b and S added in every order (version 2),
against cross-view prediction; the study is declared in ``cmc_views.yaml`` beside this module
(docs/cmc_views.md). Its headline measure, the linear probe of the L encoder, is here."""
from __future__ import annotations

import json

import torch

from ..studies.experiment import command
from ..build import build_dataset
from ..eval.linear import linear_probe

COMMAND, HELP, add_arguments, run, study = command(__file__)


@torch.no_grad()
def view_features(encoder, images: torch.Tensor, view: int = 0) -> torch.Tensor:
    """Features of one view's encoder (0 = L) of a CMC ``Encoder``."""
    encoder.eval()
    return torch.cat([encoder.backbone.encode([encoder.preprocess(images[i:i + 500])])[view].float()
                      for i in range(0, len(images), 500)])


_DATA: dict = {}


def l_probe(run) -> float:
    """The study's measure ``l_linear_top1_pct``: the linear probe of the L encoder's features
    (the trained run, or its random-init twin), on the dataset's own split."""
    key = json.dumps(run.config["data"], sort_keys=True, default=str)
    if key not in _DATA:
        _DATA[key] = build_dataset(run.config)
    data = _DATA[key]
    return 100 * linear_probe(view_features(run.encoder, data.train_images), data.train_labels,
                              view_features(run.encoder, data.test_images), data.test_labels)["top1"]
