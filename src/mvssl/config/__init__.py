"""Run configuration: the tables of ``schema`` resolved (defaults + user values, typed and checked
by the tables and by ``RULES`` between keys; every error names its key), what a run folder records
of it; ``config_text`` reads configs from options and YAML. It imports nothing else of mvssl:
``build.resolve`` hands in the method's hyperparameters and checks the names other layers own
(methods, backbones, factors, augmentations); call that one."""
import contextlib
import copy
from types import SimpleNamespace
from typing import Any, Callable

from .schema import (BOUNDS, DATASET_DEFAULTS, DATASETS, DEFAULTS, DERIVED, REGISTERED_DEFAULTS, SCHEMA, VIEW_RECIPES,
                     ConfigError, Key)

MAX_STEPS = 10**9  # beyond any run: a typo such as 1e20 otherwise trains (and prints) nothing, ever
# rules between keys: (what is wrong, the message), both in terms of the config's sections, p (processes),
# g and l (multicrop's global and local sides); checked in this order, after every key's own rule
RULES: list[tuple[Callable[[SimpleNamespace], bool], str]] = [
    (lambda c: c.trainer.max_steps > MAX_STEPS, "trainer.max_steps: {trainer.max_steps:g} steps is beyond any run "
     "(at most 1e+09); did you mean a smaller number?"),
    (lambda c: c.data.dataset == "cmnist" and c.data.digit_size > c.data.image_size,
     "data.digit_size ({data.digit_size}) cannot exceed data.image_size ({data.image_size})"),
    (lambda c: c.views.name == "factor-shared" and c.data.dataset != "cmnist", "views.name: factor-shared views need "
     "data.dataset cmnist (got {data.dataset!r}); use an augmentation recipe such as --views.name simclr"),
    (lambda c: c.views.name == "clip" and c.data.dataset != "cmnist",
     "views.name: clip views need data.dataset cmnist (got {data.dataset!r})"),
    (lambda c: c.views.name == "patches" and c.views.patch_within == "digit" and c.data.dataset != "cmnist",
     "views.patch_within: digit needs data.dataset cmnist (got {data.dataset!r}): only its frames say where the digit is"),
    (lambda c: c.views.name == "patches" and c.views.patch_within == "digit" and not (
        0 < c.views.patch_size <= c.data.digit_size and float(c.views.patch_distance).is_integer()
        and 0 <= c.views.patch_distance <= c.data.digit_size - c.views.patch_size),
     "views.patch_within digit: views.patch_size ({views.patch_size}) must be in 1..data.digit_size "
     "({data.digit_size}) and views.patch_distance ({views.patch_distance}) a whole number of px from 0 to "
     "digit_size - patch_size"),
    (lambda c: c.views.name == "multicrop" and c.g > c.data.image_size,
     "views.global_size ({g}) cannot exceed data.image_size ({data.image_size})"),
    (lambda c: c.views.name == "multicrop" and c.l >= c.g, "views.local_size ({l}) must be smaller than "
     "views.global_size ({g}): methods tell local crops from global ones by size"),
    (lambda c: c.views.name == "multicrop" and c.views.n_global + c.views.n_local < 2, "views.n_global "
     "({views.n_global}) must be >= 1 and views.n_local ({views.n_local}) >= 0, with at least two crops in all"),
    (lambda c: c.views.name == "multicrop" and not 0 < c.views.local_min_scale <= c.views.local_max_scale <= 1,
     "views.local_min_scale and views.local_max_scale: need 0 < min <= max <= 1, got {views.local_min_scale} and "
     "{views.local_max_scale}"),
    (lambda c: c.optim.warmup_steps >= c.trainer.max_steps, "optim.warmup_steps ({optim.warmup_steps}) must be "
     "smaller than trainer.max_steps ({trainer.max_steps}); leave it out for the default "
     + DERIVED[("optim", "warmup_steps")][0]),
    (lambda c: c.trainer.checkpoint_every > c.trainer.max_steps, "trainer.checkpoint_every ({trainer.checkpoint_every})"
     " is larger than trainer.max_steps ({trainer.max_steps}): no checkpoint would be written; choose "
     "1..{trainer.max_steps}, or leave it out for the default " + DERIVED[("trainer", "checkpoint_every")][0]),
    (lambda c: c.optim.batch_size % c.p, "optim.batch_size ({optim.batch_size}) must be divisible by trainer.devices "
     "x trainer.num_nodes ({p}): every process takes an equal slice of the batch"),
    (lambda c: c.trainer.on_nan == "skip" and c.p > 1, "trainer.on_nan: 'skip' works in a single process only "
     "(skipping on one of {p} processes would leave the others waiting); use 'stop'"),
    (lambda c: c.trainer.name in ("", ".", "..") or "/" in (c.trainer.name or ""),
     "trainer.name: a folder name without '/', or null for a dated name; got {trainer.name!r}"),
    (lambda c: c.optim.batch_size < 2, "optim.batch_size: a batch of {optim.batch_size} image has no other image to "
     "contrast with and no batch statistics (a contrastive loss is 0 at every step); use 2 or more"),
]


_SAID = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string", "list": "a list"}


def _typed(name: str, value: Any, default: Any, kind: str = "") -> Any:
    """``value`` as the type of ``default``, or of ``kind`` where the default is None (without a kind,
    in a method's section, anything passes); a str key takes any scalar as text, and true or false."""
    kind = type(default).__name__ if default is not None else kind
    if kind not in _SAID or value is None and default is None:
        return value
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool" and isinstance(value, bool) or kind == "float" and number:
        return float(value) if kind == "float" else value
    if kind == "int" and number and (isinstance(value, int) or value.is_integer()):
        return int(value)
    if kind == "list" and isinstance(value, (list, tuple, str)):
        return [x for x in value.split(",") if x] if isinstance(value, str) else list(value)
    if kind == "str" and (isinstance(value, (bool, str)) or default is not None):
        return value if isinstance(value, (bool, str)) else str(value)
    raise ConfigError(f"{name}: expected {_SAID[kind]}, got {value!r}")


def resolve_config(user: dict | None, hyperparameters: Callable[[str], dict]) -> dict:
    """Defaults + user values, validated; ``hyperparameters(name)``: method ``name``'s section."""
    user = copy.deepcopy(user or {})
    method = user.get("method", {})
    user["method"] = {"name": method} if isinstance(method, str) else method
    name = user["method"].get("name", DEFAULTS["method"]["name"]) if isinstance(user["method"], dict) else "simclr"
    dataset = user["data"].get("dataset", "cmnist") if isinstance(user.get("data"), dict) else None
    defaults = deep_update(DEFAULTS, DATASET_DEFAULTS.get(dataset, {}))
    defaults["method"] = {"name": name, **hyperparameters(name)}
    cfg = copy.deepcopy(defaults)
    for section, given in user.items():
        if section not in defaults:
            raise ConfigError(f"unknown config key {section!r}; allowed here: {sorted(defaults)}")
        if not isinstance(given, dict):
            raise ConfigError(f"{section}: expected a section (mapping), got {given!r}")
        for k, value in given.items():
            if k not in defaults[section]:
                raise ConfigError(f"unknown config key '{section}.{k}'; allowed here: {sorted(defaults[section])}")
            kind = SCHEMA[section][k].kind if section in SCHEMA else ""
            cfg[section][k] = _typed(f"{section}.{k}", value, defaults[section][k], kind)
    refuse_keys_that_do_nothing(cfg, user, "views")  # the recipe's row is the views' schema
    _check(cfg)
    return cfg


def as_registered(user: dict) -> dict:
    """``user`` (a config as given, not resolved) with ``REGISTERED_DEFAULTS`` under it: every key
    it leaves out whose default changed after the registered studies were written gets the value
    they were written with; what it gives stays."""
    user = copy.deepcopy(user)
    if isinstance(user.get("method"), str):
        user["method"] = {"name": user["method"]}
    method = user.get("method", {})
    name = method.get("name", DEFAULTS["method"]["name"]) if isinstance(method, dict) else None
    return deep_update({**REGISTERED_DEFAULTS, "method": REGISTERED_DEFAULTS["method"].get(name, {})}, user)


def refuse_keys_that_do_nothing(cfg: dict, user: dict, section: str) -> None:
    """A data or views key given a value of its own that the dataset or view recipe does not read
    (``--views.shared background`` with simclr views would be ignored); at its default it passes: an
    old run's config.yaml lists every key. Data keys last (``build.resolve``), after the checks of
    the names other layers own (``data.in_memory false`` on CIFAR gets its own message)."""
    defaults, reads = deep_update(DEFAULTS, DATASET_DEFAULTS.get(cfg["data"]["dataset"], {})), _read_keys(cfg, section)
    chooser = "dataset" if section == "data" else "name"
    for k, value in (user.get(section) or {}).items():
        if k not in reads and value not in (DEFAULTS[section][k], defaults[section][k]):
            raise ConfigError(f"{section}.{k}: does nothing with {section}.{chooser} {cfg[section][chooser]} (it reads "
                              f"{', '.join(sorted(reads - {chooser}))}); drop it, or choose the dataset or views it "
                              "belongs to")


def _check(cfg: dict) -> None:
    # a method's temperatures and momenta get bounds too: a constructor would only meet them at the first step
    method = {k: Key(v, "> 0" if k.endswith("temperature") else "in [0, 1]" if k.endswith("momentum") else ())
              for k, v in cfg["method"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for section, keys in {**SCHEMA, "method": method}.items():
        for k, spec in keys.items():
            value = cfg[section][k]
            if isinstance(spec.rule, tuple) and spec.rule and value not in spec.rule:
                raise ConfigError(f"{section}.{k}: {value!r} is not one of {list(spec.rule)}")
            if isinstance(spec.rule, str) and value is not None and not BOUNDS[spec.rule](value):
                raise ConfigError(f"{section}.{k}: {spec.why or 'must be ' + spec.rule}, got {value}")
    for (section, k), (_, rule) in DERIVED.items():
        if cfg[section][k] is None:
            cfg[section][k] = rule(cfg["trainer"]["max_steps"])
    g, l = multicrop_sizes(cfg["views"], cfg["data"]["image_size"])
    names = {**{s: SimpleNamespace(**keys) for s, keys in cfg.items()}, "g": g, "l": l,
             "p": cfg["trainer"]["devices"] * cfg["trainer"]["num_nodes"]}
    for wrong, message in RULES:
        if wrong(SimpleNamespace(**names)):
            raise ConfigError(message.format(**names))


def _read_keys(cfg: dict, section: str) -> set[str]:
    """The keys of ``section`` ("data" or "views") that the chosen dataset or view recipe reads."""
    if section == "data":
        return {"dataset", "image_size", *DATASETS[cfg["data"]["dataset"]][0]}
    v = cfg["views"]
    augmented = v["name"] == "factor-shared" and v["augment"] == "simclr"  # SimCLR's augmentation on top
    return {"name", *VIEW_RECIPES[v["name"]], *(("strength", "min_scale") if augmented else ())}


def written_config(cfg: dict) -> dict:
    """The config as a run folder records it: the data keys of ``data.dataset`` and the views
    keys of the chosen recipe only (``resolve`` gives the others back their defaults)."""
    return {**copy.deepcopy(cfg), **{s: {k: copy.deepcopy(v) for k, v in cfg[s].items() if k in _read_keys(cfg, s)}
                                     for s in ("data", "views")}}


def multicrop_sizes(views: dict, image_size: int) -> tuple[int, int]:
    """(global, local) crop sides of the multicrop recipe, defaults filled in."""
    global_size = views["global_size"] or image_size
    return global_size, views["local_size"] or max(1, round(global_size * 96 / 224))


@contextlib.contextmanager
def as_config_error(prefix: str = "", kind: type[Exception] = ValueError):
    """A ``kind`` error raised by a layer below as a ``ConfigError``: ``prefix`` + its message."""
    try:
        yield
    except kind as err:
        raise ConfigError(f"{prefix}{err}") from None


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
