from pathlib import Path

from mvssl.config import load_yaml, resolve

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"


def test_configs_default_yaml_is_exactly_the_default_config():
    """configs/default.yaml documents every key; it must stay equal to the code's defaults.
    Regenerate it with: python -c "import yaml, mvssl.config as c; print(yaml.safe_dump(c.resolve(), sort_keys=False))" """
    assert load_yaml(DEFAULT_FILE) == resolve()
    assert resolve(load_yaml(DEFAULT_FILE)) == resolve()
