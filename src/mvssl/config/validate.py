"""Resolving a config: defaults + user values, type-checked and validated, and what a run
folder records of it."""
from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any, Callable

from .schema import (DATA_KEYS, DATASET_DEFAULTS, DEFAULTS, DERIVED, FIELDS, RESUME_EXTENDABLE, RESUME_OVERRIDABLE,
                     SECTIONS, VIEW_RECIPES, ConfigError)


def _check_type(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``; a None default takes anything (checked later)."""
    if default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):  # a bool passes: a switch with a third choice (data.in_memory auto)
        return value if isinstance(value, (bool, str)) else str(value)
    if isinstance(default, list):
        value = [v for v in value.split(",") if v] if isinstance(value, str) else value
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return list(value)
    return value


def _merge(defaults: dict, user: dict, prefix: str = "") -> dict:
    out = copy.deepcopy(defaults)
    for key, value in user.items():
        full = f"{prefix}{key}"
        if key not in defaults:
            raise ConfigError(f"unknown config key {full!r}; allowed here: {sorted(defaults)}")
        if isinstance(defaults[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: expected a section (mapping), got {value!r}")
            out[key] = _merge(defaults[key], value, full + ".")
        else:
            out[key] = _check_type(full, value, defaults[key])
    return out


def resolve_config(user: dict | None, hyperparameters: Callable[[str], dict]) -> dict:
    """Defaults + user values, validated; ``hyperparameters(name)`` is method ``name``'s
    section with its defaults. ``build.resolve`` calls it and then checks the names that
    other layers own (methods, backbones, factors, augmentations)."""
    user = copy.deepcopy(user or {})
    method = user.get("method", {})
    method = {"name": method} if isinstance(method, str) else method
    name = method.get("name", DEFAULTS["method"]["name"]) if isinstance(method, dict) else DEFAULTS["method"]["name"]
    data = user.get("data")
    dataset = data.get("dataset", DEFAULTS["data"]["dataset"]) if isinstance(data, dict) else None
    defaults = deep_update(DEFAULTS, DATASET_DEFAULTS.get(dataset, {}))
    defaults["method"] = {"name": name, **hyperparameters(name)}
    user["method"] = method
    cfg = _merge(defaults, user)
    steps = cfg["trainer"]["max_steps"]
    for (section, key), (_, rule) in DERIVED.items():
        value = cfg[section][key]
        cfg[section][key] = rule(steps) if value is None else _check_type(f"{section}.{key}", value, 0)
    _validate(cfg)
    return cfg


def _validate(cfg: dict) -> None:
    for section in SECTIONS:
        for f in FIELDS[section]:
            value, choices, bound = cfg[section][f.name], f.metadata.get("choices"), f.metadata.get("bound")
            if choices and value not in choices:
                raise ConfigError(f"{section}.{f.name}: {value!r} is not one of {list(choices)}")
            if bound == ">0" and value <= 0 or bound == ">=0" and value < 0:
                raise ConfigError(f"{section}.{f.name}: must be {bound[:-1]} 0, got {value}")
    d, t, o = cfg["data"], cfg["trainer"], cfg["optim"]
    if d["dataset"] == "cmnist" and d["digit_size"] > d["image_size"]:  # other datasets draw no digit
        raise ConfigError(f"data.digit_size ({d['digit_size']}) cannot exceed data.image_size ({d['image_size']})")
    if d["workers"] is not None and (isinstance(d["workers"], bool) or not isinstance(d["workers"], int)
                                     or d["workers"] < 0):
        raise ConfigError(f"data.workers: a number of processes >= 0 (0: decode in the training process), or null "
                          f"for the default; got {d['workers']!r}")
    budget = d["memory_budget_gb"]
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise ConfigError(f"data.memory_budget_gb: a number of GiB > 0, or null for a quarter of the RAM; got {budget!r}")
    _validate_views(cfg["views"], d, cfg["method"]["name"])
    if o["warmup_steps"] >= t["max_steps"]:
        raise ConfigError(f"optim.warmup_steps ({o['warmup_steps']}) must be smaller than trainer.max_steps "
                          f"({t['max_steps']}); leave it out for the default {DERIVED[('optim', 'warmup_steps')][0]}")
    for key, value in cfg["method"].items():  # ranges a constructor would only meet at the first step
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if key.endswith("temperature") and value <= 0:
                raise ConfigError(f"method.{key}: must be > 0, got {value}")
            if key.endswith("momentum") and not 0 <= value <= 1:
                raise ConfigError(f"method.{key}: must be in [0, 1], got {value}")
    if not 0 <= o["momentum"] < 1:
        raise ConfigError(f"optim.momentum: must be in [0, 1), got {o['momentum']}")
    if t["checkpoint_every"] > t["max_steps"]:
        raise ConfigError(f"trainer.checkpoint_every ({t['checkpoint_every']}) is larger than trainer.max_steps "
                          f"({t['max_steps']}): no checkpoint would be written; choose 1..{t['max_steps']}, or leave it "
                          f"out for the default {DERIVED[('trainer', 'checkpoint_every')][0]}")
    processes = t["devices"] * t["num_nodes"]
    if o["batch_size"] % processes:
        raise ConfigError(f"optim.batch_size ({o['batch_size']}) must be divisible by trainer.devices x "
                          f"trainer.num_nodes ({processes}): every process takes an equal slice of the batch")
    if t["on_nan"] == "skip" and processes > 1:
        raise ConfigError(f"trainer.on_nan: 'skip' works in a single process only (skipping on one of "
                          f"{processes} processes would leave the others waiting); use 'stop'")
    if t["name"] is not None and (not isinstance(t["name"], str) or not t["name"] or "/" in t["name"]
                                  or t["name"] in (".", "..")):
        raise ConfigError(f"trainer.name: a folder name without '/', or null for a dated name; got {t['name']!r}")


def _validate_views(v: dict, d: dict, method: str) -> None:
    if v["name"] == "factor-shared" and d["dataset"] != "cmnist":
        raise ConfigError(f"views.name: factor-shared views need data.dataset cmnist (got {d['dataset']!r}); "
                          "use an augmentation recipe such as --views.name simclr")
    if (method == "clip-simclr") != (v["name"] == "clip"):
        raise ConfigError(f"views.name {v['name']!r} with method {method!r}: method clip-simclr takes --views.name "
                          "clip (a clip of frames against one frame), and only it does")
    if v["name"] == "clip" and d["dataset"] != "cmnist":
        raise ConfigError(f"views.name: clip views need data.dataset cmnist (got {d['dataset']!r})")
    if isinstance(v["frames"], bool) or not isinstance(v["frames"], int) or not 1 <= v["frames"] <= 16:
        raise ConfigError(f"views.frames: expected a whole number of frames in 1..16, got {v['frames']!r}")
    if v["name"] in ("factor-shared", "patches") and v["n_views"] != 2:
        raise ConfigError(f"views.n_views: {'factor-shared' if v['name'] == 'factor-shared' else 'patch'} views "
                          "come in pairs; set it to 2")
    if not 0 < v["min_scale"] <= 1:
        raise ConfigError(f"views.min_scale: must be in (0, 1], got {v['min_scale']}")
    if (method == "looc") != (v["name"] == "looc"):  # looc-pair gives other methods the same augmentations
        raise ConfigError(f"views.name {v['name']!r} with method {method!r}: method looc takes --views.name looc "
                          "(leave-one-out views), and only it does; other methods can use the same augmentations "
                          "with --views.name looc-pair")
    if v["name"] == "multicrop":
        _validate_multicrop(v, d["image_size"])


def _validate_multicrop(v: dict, image_size: int) -> None:
    for key in ("global_size", "local_size"):
        if v[key] is not None and (isinstance(v[key], bool) or not isinstance(v[key], int) or v[key] <= 0):
            raise ConfigError(f"views.{key}: expected a positive integer number of pixels, got {v[key]!r}")
    global_size, local_size = multicrop_sizes(v, image_size)
    if global_size > image_size:
        raise ConfigError(f"views.global_size ({global_size}) cannot exceed data.image_size ({image_size})")
    if local_size >= global_size:
        raise ConfigError(f"views.local_size ({local_size}) must be smaller than views.global_size ({global_size}): "
                          "methods tell local crops from global ones by size")
    if v["n_global"] < 1 or v["n_local"] < 0 or v["n_global"] + v["n_local"] < 2:
        raise ConfigError(f"views.n_global ({v['n_global']}) must be >= 1 and views.n_local ({v['n_local']}) >= 0, "
                          "with at least two crops in all")
    if not 0 < v["global_min_scale"] <= 1:
        raise ConfigError(f"views.global_min_scale: must be in (0, 1], got {v['global_min_scale']}")
    if not 0 < v["local_min_scale"] <= v["local_max_scale"] <= 1:
        raise ConfigError("views.local_min_scale and views.local_max_scale: need 0 < min <= max <= 1, got "
                          f"{v['local_min_scale']} and {v['local_max_scale']}")


def written_config(cfg: dict) -> dict:
    """The config as a run folder records it: the data keys of ``data.dataset`` and the views
    keys of the chosen recipe only (``resolve`` gives the others back their defaults)."""
    out = copy.deepcopy(cfg)
    dataset, recipe = cfg["data"]["dataset"], cfg["views"]["name"]
    data_keys = {"dataset", "image_size", *DATA_KEYS[dataset]}
    view_keys = {"name", *(f.name for f in fields(VIEW_RECIPES[recipe]))}
    if recipe == "factor-shared" and cfg["views"]["augment"] == "simclr":
        view_keys |= {"strength", "min_scale"}
    out["data"] = {k: v for k, v in cfg["data"].items() if k in data_keys}
    out["views"] = {k: v for k, v in cfg["views"].items() if k in view_keys}
    return out


def describe_data(cfg: dict) -> str:
    """``data folder at 64 px, views simclr``: what the run trains on, for its first line."""
    d, v = cfg["data"], cfg["views"]
    views = f"views factor-shared ({','.join(v['shared'])})" if v["name"] == "factor-shared" else f"views {v['name']}"
    return f"data {d['dataset']} at {d['image_size']} px, {views}"


def multicrop_sizes(views: dict, image_size: int) -> tuple[int, int]:
    """(global, local) crop sides of the multicrop recipe, defaults filled in."""
    global_size = views["global_size"] or image_size
    return global_size, views["local_size"] or max(1, round(global_size * 96 / 224))


def check_batch_fits(cfg: dict, num_items: int) -> None:
    """The one check that needs the dataset: a full batch must fit in it."""
    if cfg["optim"]["batch_size"] > num_items:
        raise ConfigError(f"optim.batch_size ({cfg['optim']['batch_size']}) is larger than the training set "
                          f"({num_items} images of data.dataset {cfg['data']['dataset']!r}); choose at most "
                          f"{num_items}")


def check_resume_overrides(overrides: dict) -> None:
    """A resumed run keeps its saved config; only keys that do not change the computation
    may be overridden, and ``trainer.max_steps`` raised to extend the run."""
    for section, values in overrides.items():
        for key in values if isinstance(values, dict) else [None]:
            if (section, key) not in RESUME_OVERRIDABLE | {RESUME_EXTENDABLE}:
                allowed = sorted(f"{s}.{k}" for s, k in RESUME_OVERRIDABLE)
                raise ConfigError(f"{section if key is None else f'{section}.{key}'}: cannot be changed when resuming "
                                  f"(the run would no longer continue exactly); keys a resume may change: {allowed}, "
                                  "and trainer.max_steps may be raised to train longer")


def config_differences(a: dict, b: dict) -> list[tuple[str, str]]:
    """The (section, key) pairs whose values differ between two resolved configs."""
    return [(section, key) for section in sorted(set(a) | set(b))
            for key in sorted(set(a.get(section, {})) | set(b.get(section, {})))
            if a.get(section, {}).get(key) != b.get(section, {}).get(key)]


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
