"""Values that pass their type and range checks but mean nothing, or not what they say:
refused before anything is created, one line each, naming the key."""
from __future__ import annotations

from .schema import DATASET_DEFAULTS, DEFAULTS, ConfigError
from .validate import deep_update, written_config

MAX_STEPS = 10**9  # beyond any run: a typo such as 1e20 otherwise trains (and prints) nothing, ever


def check_max_steps(value) -> None:
    """``trainer.max_steps`` first: every derived default (warm-up, checkpoint interval) follows it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or isinstance(value, float) and (
            not value.is_integer()):
        return  # the type check names it
    if value <= 0:
        raise ConfigError(f"trainer.max_steps: must be > 0, got {value:g}")
    if value > MAX_STEPS:
        raise ConfigError(f"trainer.max_steps: {value:g} steps is beyond any run (at most {MAX_STEPS:.0e}); "
                          "did you mean a smaller number?")


def check_sense(cfg: dict, user: dict) -> None:
    v, o = cfg["views"], cfg["optim"]
    if o["batch_size"] < 2:
        raise ConfigError(f"optim.batch_size: a batch of {o['batch_size']} image has no other image to contrast "
                          "with and no batch statistics (a contrastive loss is 0 at every step); use 2 or more")
    if v["strength"] < 0:
        raise ConfigError(f"views.strength: the colour-distortion strength s scales the jitter (0: none, SimCLR "
                          f"uses 0.5 to 1); it cannot be negative, got {v['strength']:g}")
    _check_keys_that_do_nothing(cfg, user)


def _check_keys_that_do_nothing(cfg: dict, user: dict) -> None:
    """A data or views key given with a value of its own (not its default) that the dataset or
    the view recipe does not read: ``--views.shared background`` with simclr views was ignored."""
    applies = written_config(cfg)
    what = {"data": f"data.dataset {cfg['data']['dataset']}", "views": f"views.name {cfg['views']['name']}"}
    dataset_defaults = deep_update(DEFAULTS, DATASET_DEFAULTS.get(cfg["data"]["dataset"], {}))  # stl10: strength 1.0
    for section in ("data", "views"):
        given = user.get(section)
        if not isinstance(given, dict):
            continue
        for key, value in given.items():
            if key in applies[section] or key not in DEFAULTS[section]:
                continue
            if value in (DEFAULTS[section][key], dataset_defaults[section][key]):
                continue  # a full config (a file listing every key, a resolved one resumed) at its defaults
            raise ConfigError(f"{section}.{key}: does nothing with {what[section]} (it reads "
                              f"{', '.join(sorted(k for k in applies[section] if k not in ('name', 'dataset')))}); "
                              "drop it, or choose the dataset or views it belongs to")
