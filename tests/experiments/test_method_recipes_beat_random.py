"""Slow checks (``pytest -m slow``): the recipe of each method in ``mvssl experiment methods``
(a short ``mvssl train --method NAME`` on Colorful-Moving-MNIST views that share only the
digit) gives a linear-probe digit error clearly below that of the random-init encoder of
the same architecture. MoCo and CMC: tests/train/test_moco_cmc_runs.py.

With ``MVSSL_KEEP_RUNS=DIR`` the run folders are kept in DIR/<method>/, and
``mvssl experiment methods --from-runs DIR`` tabulates them (the README's methods table)."""
import os

import pytest

from mvssl.experiments.methods import train_method

MARGIN = 10.0  # percentage points below the random-init encoder's digit error


def train_recipe(method: str, tmp_path):
    out = os.environ.get("MVSSL_KEEP_RUNS") or tmp_path
    _, metrics = train_method(method, out, echo=lambda *a: None)
    return metrics["eval"]["trained"], metrics["eval"]["random init"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["simclr", "byol", "simsiam", "swav", "dino", "mocov3", "nnclr", "barlow-twins",
                                    "vicreg", "deepcluster"])
def test_short_training_beats_random_init_on_digit(method, tmp_path):
    trained, random_init = train_recipe(method, tmp_path)
    assert trained["digit_error_pct"] < random_init["digit_error_pct"] - MARGIN, (
        f"{method}: digit error {trained['digit_error_pct']:.1f}% vs random init {random_init['digit_error_pct']:.1f}%")
