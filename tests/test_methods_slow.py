"""Slow checks (``pytest -m slow``): a short ``mvssl train`` of each distillation and
clustering method on Colorful-Moving-MNIST views that share only the digit (the default
factor-shared pairs) gives a linear-probe digit error clearly below that of the
random-init encoder of the same architecture.

At this budget the check FAILS for the runs measured so far (see
docs/distillation_clustering.md: BYOL 88.0% vs 88.2% at width 16); it states the
issue's requirement, not a result already met."""
import pytest

from mvssl.train import train

BUDGET = {"backbone": {"width": 16}, "optim": {"batch_size": 128},
          "trainer": {"max_steps": 300, "precision": "32", "channels_last": False, "progress": False}}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["byol", "dino", "simsiam", "swav"])
def test_short_training_beats_random_init_on_digit(method, tmp_path):
    config = {**BUDGET, "method": {"name": method}, "trainer": {**BUDGET["trainer"], "out_dir": str(tmp_path)}}
    _, metrics = train(config, echo=lambda *a: None)
    trained = metrics["eval"]["trained"]["digit_error_pct"]
    random_init = metrics["eval"]["random init"]["digit_error_pct"]
    assert trained < random_init - 5, f"{method}: digit error {trained:.1f}% vs random init {random_init:.1f}%"
