import pytest

from mvssl.config import ConfigError, DEFAULTS, parse_overrides, resolve


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
])
def test_bad_config_fails_before_training_naming_the_key(user, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(user)


def test_override_without_value_or_section():
    with pytest.raises(ConfigError, match="needs a value"):
        parse_overrides(["--optim.lr"])
    with pytest.raises(ConfigError, match="section"):
        parse_overrides(["--lr", "1"])
