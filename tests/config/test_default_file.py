from pathlib import Path

from mvssl.config import DERIVED
from mvssl.config_text import load_yaml
from mvssl.build import resolve

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


def file_defaults() -> dict:
    """The code's defaults as the file shows them: keys derived from trainer.max_steps are null."""
    cfg = resolve()
    for section, key in DERIVED:
        cfg[section][key] = None
    return cfg


def test_configs_default_yaml_is_exactly_the_default_config():
    """configs/default.yaml documents every key; it must stay equal to the code's defaults.
    Regenerate it with: python -c "import yaml;
    from tests.config.test_default_file import file_defaults; print(yaml.safe_dump(file_defaults(), sort_keys=False))" """
    assert load_yaml(DEFAULT_FILE) == file_defaults()
    assert resolve(load_yaml(DEFAULT_FILE)) == resolve()
    short = resolve({**load_yaml(DEFAULT_FILE), "trainer": {**load_yaml(DEFAULT_FILE)["trainer"], "max_steps": 20}})
    assert short["optim"]["warmup_steps"] == 4  # the file does not pin what max_steps derives
