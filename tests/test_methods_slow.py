"""Slow checks (``pytest -m slow``): a short ``mvssl train`` of each distillation and
clustering method, with its paper's views, on Colorful-Moving-MNIST gives a linear-probe
digit error clearly below that of the random-init encoder of the same architecture."""
import pytest

from mvssl.train import train

# the budget of the figures in docs/distillation_clustering.md (float32 is faster than
# bf16 autocast for this small ConvNet on CPU)
BUDGET = {"backbone": {"width": 8}, "optim": {"batch_size": 128},
          "trainer": {"max_steps": 300, "precision": "32", "channels_last": False, "progress": False}}
PAPER_VIEWS = {
    "byol": {"name": "byol"},
    "simsiam": {"name": "simclr"},
    "swav": {"name": "multicrop", "n_local": 4},
    "dino": {"name": "multicrop", "n_local": 4},
}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(PAPER_VIEWS))
def test_short_training_beats_random_init_on_digit(method, tmp_path):
    config = {**BUDGET, "method": {"name": method}, "views": PAPER_VIEWS[method],
              "trainer": {**BUDGET["trainer"], "out_dir": str(tmp_path)}}
    _, metrics = train(config, echo=lambda *a: None)
    trained = metrics["eval"]["trained"]["digit_error_pct"]
    random_init = metrics["eval"]["random init"]["digit_error_pct"]
    assert trained < random_init - 5, f"{method}: digit error {trained:.1f}% vs random init {random_init:.1f}%"
