import inspect

import pytest

from mvssl.build import build_method, resolve
from mvssl.config import ConfigError
from mvssl.methods import BYOL, DINO, METHODS
from mvssl.methods.base import NEEDS, STEP_INPUTS, hyperparameters
from mvssl.methods.er import ERBYOL, ERDINO


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_declares_what_it_takes_from_the_run(name):
    cls = METHODS[name]
    assert set(cls.needs) <= set(NEEDS) and ("backbone" in cls.needs) != ("backbone_factory" in cls.needs)
    init = inspect.signature(cls.__init__).parameters
    first = ["backbone", "feature_dim"] if "backbone" in cls.needs else ["backbone_factory"]
    assert list(init)[1:len(first) + 1] == first
    # what forward takes beside the views is exactly what the class declares for the step
    extra = [p for p in inspect.signature(cls.forward).parameters if p not in ("self", "views")]
    assert extra == list(getattr(cls, "step_inputs", ())) and set(extra) <= set(STEP_INPUTS)


def test_hyperparameters_are_the_constructor_defaults_and_er_adds_its_keys():
    assert hyperparameters(BYOL) == {"proj_hidden_dim": 1024, "proj_dim": 256, "pred_hidden_dim": 1024,
                                     "base_momentum": 0.99, "predictor_lr_scale": 10.0}
    assert hyperparameters(ERBYOL) == {**hyperparameters(BYOL), "er_kappa": 10.0, "er_entropy_weight": 1.0,
                                       "er_reconstruction_weight": 1.0}
    assert list(hyperparameters(ERBYOL))[:5] == list(hyperparameters(BYOL))  # the base's keys first
    assert hyperparameters(ERDINO) == {**hyperparameters(DINO), "er_entropy_weight": 1.0,
                                       "er_reconstruction_weight": 1.0}  # no vMF kernel: no er_kappa
    assert "num_samples" not in hyperparameters(METHODS["moco"]) and "frames" not in hyperparameters(
        METHODS["clip-simclr"])


def test_build_hands_over_exactly_what_a_method_needs():
    cfg = resolve({"method": "looc", "views": {"name": "looc", "augmentations": ["rotate", "color"]},
                   "backbone": {"width": 4}})
    looc, _ = build_method(cfg, num_samples=1000)
    assert looc.augmentations == ["rotate", "color"] and len(looc.projectors) == 3
    clip, _ = build_method(resolve({"method": "clip-simclr", "views": {"name": "clip", "frames": 5},
                                    "backbone": {"width": 4}}))
    assert clip.frames == 5
    with pytest.raises(ValueError, match="needs the number of training samples"):
        build_method(resolve({"method": "moco", "backbone": {"width": 4}}))
    er, _ = build_method(resolve({"method": {"name": "er-byol", "er_kappa": 3.0, "base_momentum": 0.9},
                                  "backbone": {"width": 4}}))
    assert (er.er_kappa, er.base_momentum) == (3.0, 0.9)


def test_one_crop_per_image_is_refused_except_for_a_method_that_declares_it():
    """CMC's views are colour-channel groups of one crop (``min_crops = 1``); any other method
    given one view has nothing to share, and config says so before anything is built."""
    resolve({"method": "cmc", "views": {"name": "crop", "n_views": 1}})
    with pytest.raises(ConfigError, match="views.n_views: 1 view"):
        resolve({"method": "simclr", "views": {"name": "crop", "n_views": 1}})
