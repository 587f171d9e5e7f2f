import re

import pytest

from mvssl.config import ConfigError, DEFAULTS
from mvssl.config_text import parse_overrides
from mvssl.build import resolve


def test_defaults_resolve_with_method_signature_defaults():
    cfg = resolve()
    assert cfg["method"]["name"] == "simclr"
    assert "temperature" in cfg["method"] and "proj_dim" in cfg["method"]
    assert cfg["views"]["shared"] == ["digit"]
    assert set(cfg) == set(DEFAULTS)


def test_overrides_parse_types_and_shorthand():
    o = parse_overrides(["--optim.lr", "0.1", "--method", "simclr", "--views.shared=digit,position",
                         "--trainer.progress", "false"])
    assert o == {"optim": {"lr": 0.1}, "method": {"name": "simclr"}, "views": {"shared": "digit,position"},
                 "trainer": {"progress": False}}
    cfg = resolve(o)
    assert cfg["views"]["shared"] == ["digit", "position"] and cfg["trainer"]["progress"] is False


@pytest.mark.parametrize("user, message", [
    ({"optim": {"lrr": 0.1}}, "unknown config key 'optim.lrr'"),
    ({"optimiser": {}}, "unknown config key 'optimiser'"),
    ({"method": {"name": "nope"}}, "unknown method 'nope'"),
    ({"method": {"temprature": 0.1}}, "unknown config key 'method.temprature'"),
    ({"optim": {"batch_size": "big"}}, "optim.batch_size: expected an integer"),
    ({"optim": {"lr": -1.0}}, "optim.lr: must be > 0"),
    ({"optim": {"name": "adam"}}, "optim.name: 'adam' is not one of"),
    ({"views": {"shared": ["colour"]}}, "views.shared"),
    ({"data": {"image_size": 16, "digit_size": 20}}, "digit_size"),
    ({"trainer": {"progress": "yes"}}, "trainer.progress: expected true or false"),
    ({"method": {"temperature": 0.0}}, "method.temperature: must be > 0"),
    ({"optim": {"warmup_steps": 5000}}, "warmup_steps"),
    ({"trainer": {"max_steps": 100, "checkpoint_every": 200}},
     "trainer.checkpoint_every (200) is larger than trainer.max_steps (100)"),
    ({"trainer": {"on_nan": "ignore"}}, "trainer.on_nan: 'ignore' is not one of ['stop', 'skip']"),
    ({"trainer": {"max_nan_skips": 0}}, "trainer.max_nan_skips: must be > 0"),
    ({"trainer": {"collapse_rank": -1}}, "trainer.collapse_rank: must be >= 0"),
    ({"trainer": {"accelerator": "tpu9"}}, "trainer.accelerator: 'tpu9' is not one of"),
    ({"trainer": {"devices": 3}, "optim": {"batch_size": 256}}, "optim.batch_size (256) must be divisible by trainer.devices x trainer.num_nodes (3)"),
    ({"trainer": {"on_nan": "skip", "devices": 2}}, "trainer.on_nan: 'skip' works in a single process only"),
    ({"trainer": {"name": "a/b"}}, "trainer.name: a folder name without '/'"),
    ({"trainer": {"deterministic": "yes"}}, "trainer.deterministic: expected true or false"),
    ({"optim": {"momentum": 1.5}}, "optim.momentum: must be in [0, 1)"),
    ({"optim": {"weight_decay": -0.1}}, "optim.weight_decay: must be >= 0"),
])
def test_bad_config_fails_before_training_naming_the_key(user, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve(user)


def test_batch_larger_than_the_dataset_names_the_key_and_the_limit():
    from mvssl.train.new_run import check_batch_fits

    with pytest.raises(ConfigError, match=r"optim.batch_size \(256\) is larger than the training set \(100 images"
                                          r" of data.dataset 'cmnist'\); choose at most 100"):
        check_batch_fits(resolve({"optim": {"batch_size": 256}}), 100)
    check_batch_fits(resolve({"optim": {"batch_size": 256}}), 256)


def test_resume_accepts_only_overrides_that_keep_it_exact():
    from mvssl.train.resume import check_resume_overrides

    check_resume_overrides({"trainer": {"on_nan": "skip", "progress": False}, "eval": {"enabled": False}})
    check_resume_overrides({"trainer": {"max_steps": 10}})  # extends a run (checked against it on resume)
    with pytest.raises(ConfigError, match="trainer.seed: cannot be changed when resuming"):
        check_resume_overrides({"trainer": {"seed": 1}})
    with pytest.raises(ConfigError, match="method: cannot be changed when resuming"):
        check_resume_overrides({"method": "simclr"})


def test_override_without_value_or_section():
    with pytest.raises(ConfigError, match="needs a value"):
        parse_overrides(["--optim.lr"])
    with pytest.raises(ConfigError, match="section"):
        parse_overrides(["--lr", "1"])
