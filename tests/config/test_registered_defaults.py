"""Study arms resolve over the defaults the registered studies were written against
(``config.REGISTERED_DEFAULTS``), so that a new default of ``mvssl train`` changes no study."""
from mvssl.build import resolve
from mvssl.config import REGISTERED_DEFAULTS, as_registered
from mvssl.studies.spec import arm_config, loads


def test_a_key_left_out_gets_its_registered_value_and_a_given_one_stays():
    cfg = resolve(as_registered({}))
    for section, keys in REGISTERED_DEFAULTS.items():
        for key, value in (keys.get(cfg["method"]["name"], {}) if section == "method" else keys).items():
            assert cfg[section][key] == value, (section, key)
    # what a study gives is kept, whether the method is named as a word or as a section
    given = resolve(as_registered({"method": "simclr", "trainer": {"max_steps": 30}}))
    assert given["trainer"]["max_steps"] == 30 and given["method"]["name"] == "simclr"
    assert given["method"]["temperature"] == REGISTERED_DEFAULTS["method"]["simclr"]["temperature"]
    own = resolve(as_registered({"method": {"name": "simclr", "temperature": 0.3}}))
    assert own["method"]["temperature"] == 0.3
    # another method's hyperparameters are not touched (a SimCLR key would be refused there)
    assert resolve(as_registered({"method": "byol"}))["method"] == resolve({"method": "byol"})["method"]


def test_a_study_arm_is_resolved_over_the_registered_defaults_not_the_train_defaults():
    study = loads("""
study: registered
base: {optim: {batch_size: 16}}
arms:
  plain: {}
  short: {trainer: {max_steps: 40}}
measures: {m: {measure: linear}}
predictions: [{id: p, contrast: "short.m - plain.m > 0"}]
""", "test")
    plain = resolve(arm_config(study, study.arms["plain"], 3))
    assert plain == resolve(as_registered({"optim": {"batch_size": 16}, "trainer": {"seed": 3}}))
    assert plain["trainer"]["max_steps"] == REGISTERED_DEFAULTS["trainer"]["max_steps"]
    assert resolve(arm_config(study, study.arms["short"], 0))["trainer"]["max_steps"] == 40
