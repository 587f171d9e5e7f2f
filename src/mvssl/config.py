"""Run configuration: nested dicts with defaults, strict validation and overrides.

Every value a run uses is in the resolved config saved in the run folder. Unknown keys,
wrong types and bad values fail before training starts, naming the key and what is
allowed. A method's section is validated against its constructor's signature, so its
hyperparameters need no second list here.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


DEFAULTS: dict[str, Any] = {
    "method": {"name": "simclr"},
    "data": {
        "dataset": "cmnist",
        "image_size": 24,
        "digit_size": 16,
        "digits": "offline",
        "backgrounds": "photos",  # or stl10, or black (nothing behind the digit)
        "digit_colors": "white",  # or warm: each digit instance in its own colour, hue in a quarter turn
        "root": "data",
        "download": False,
        "strict": False,  # folder: fail on an unreadable image instead of skipping and counting it
        "seed": 0,
        "in_memory": "auto",  # folder, stl10: decode all up front (true), stream from disk (false), auto: by budget
        "memory_budget_gb": None,  # in_memory auto: what the decoded images may take; None = a quarter of the RAM
        "workers": None,  # streaming: decoding processes per training process; None = cores per process - 1, <= 8
        "classes_file": None,  # folder: a text file listing the class folders to keep (ImageNet-100 style)
        "unlabelled": True,  # stl10: train on the 100,000 unlabelled images too (not in the evaluation)
    },
    "views": {
        "name": "factor-shared",  # or an augmentation recipe: simclr | byol | multicrop | crop (crop + flip only, for CMC) | infomin | patches
        "shared": ["digit"],  # factor-shared views: what the two views have in common; "factor:p" = shared with probability p
        "augment": "none",  # extra augmentation on factor-shared views: none | simclr
        "strength": 0.5,  # colour-distortion strength s of the simclr recipe
        "min_scale": 0.08,  # smallest crop area of the simclr recipe
        "n_views": 2,
        "n_global": 2,  # multicrop: large crops (methods tell them apart by size)
        "n_local": 6,  # multicrop: small crops
        "global_size": None,  # multicrop: side of the large crops; None = data.image_size
        "local_size": None,  # multicrop: side of the small crops; None = DINO's 96/224 of global_size
        "global_min_scale": 0.4,  # multicrop: large crops cover [global_min_scale, 1] of the area
        "local_min_scale": 0.05,  # multicrop: small crops cover [local_min_scale, local_max_scale]
        "local_max_scale": 0.4,
        "augmentations": ["color", "rotate", "blur"],  # looc / looc-pair: the a_1..a_n after crop + flip
        "compose": ["crop", "color"],  # compose: SimCLR's augmentations in order (views/compositions.py)
        "branches": "both",  # compose: augment one branch (the other is the image itself) or both
        "patch_size": 12,  # patches: side of the two patches cut from each image (InfoMin Fig. 3)
        "patch_distance": 0.0,  # patches: pixels between the two patch centres
        "frames": 3,  # clip: frames of the moving digit in view 1 (method clip-simclr; InfoMin Fig. 4)
    },
    "backbone": {"name": "convnet", "width": 16, "cifar_stem": True,  # width: convnet; cifar_stem: resnets
                 "patch_size": 4},  # vit-tiny, vit-small: patch side in px (4 for 24-32 px images)
    "optim": {
        "name": "adamw",
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "momentum": 0.9,
        "batch_size": 128,
        "warmup_steps": None,  # None: min(50, trainer.max_steps // 5)
        "schedule": "cosine",
    },
    "trainer": {
        "max_steps": 1500,
        "seed": 0,
        "precision": "auto",  # bf16 autocast on GPUs with bf16, CPUs with AMX and AMD CPUs with AVX512-BF16 (faster there), else 32
        "channels_last": True,
        "accelerator": "auto",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "sync_batchnorm": False,  # DDP: BatchNorm statistics over the global batch (SyncBatchNorm)
        "log_every": 10,
        "checkpoint_every": None,  # None: min(200, trainer.max_steps)
        "keep_checkpoints": 2,
        "deterministic": False,  # force deterministic kernels (bitwise resume on GPU; slower)
        "on_nan": "stop",  # a non-finite loss: stop (keep the last good checkpoint) | skip the step
        "max_nan_skips": 5,  # with on_nan skip: stop after this many skipped steps in a row
        "collapse_std": 0.1,  # warn below this embedding std (x sqrt(dim): 1 = spread over the sphere)
        "collapse_rank": 1.5,  # warn below this effective rank of the embeddings (1 = all on a line)
        "er_monitor": True,  # log entropy, reconstruction and I_ER of the projections (docs/er.md)
        "er_kappa": 10.0,  # vMF concentration of the monitor's entropy KDE and reconstruction
        "progress": True,  # a bar over the global steps; false: a plain line every ~5% of the steps
        "logger": "csv",  # csv (logs/metrics.csv, always written) | tensorboard | wandb: a second logger beside it
        "compile": False,
        "out_dir": "runs",
        "name": None,
    },
    "eval": {"enabled": True, "random_baseline": True, "knn_k": 20, "knn_temperature": 0.07},
}

CHOICES = {
    ("data", "dataset"): ("cmnist", "shapes", "cifar10", "cifar100", "stl10", "folder"),
    ("data", "digits"): ("offline", "mnist"),
    ("data", "backgrounds"): ("photos", "stl10", "noise", "black"),
    ("data", "digit_colors"): ("white", "warm"),
    ("data", "in_memory"): ("auto", True, False),
    ("views", "name"): ("factor-shared", "simclr", "byol", "multicrop", "crop", "infomin", "patches", "looc",
                        "looc-pair", "compose", "clip"),
    ("views", "branches"): ("one", "both"),
    ("views", "augment"): ("none", "simclr"),
    ("optim", "name"): ("adamw", "sgd", "lars"),
    ("optim", "schedule"): ("cosine", "constant"),
    ("trainer", "precision"): ("auto", "32", "bf16-mixed", "16-mixed"),
    ("trainer", "accelerator"): ("auto", "cpu", "gpu", "cuda", "mps"),
    ("trainer", "on_nan"): ("stop", "skip"),
    ("trainer", "logger"): ("csv", "tensorboard", "wandb"),
}
# what a dataset other than Colorful-Moving-MNIST starts from: its own image size and an
# augmentation recipe (factor-shared views need the rendered factors), with SimCLR's colour
# strength for that kind of image (0.5 on CIFAR, 1.0 on ImageNet-like photos)
DATASET_DEFAULTS = {
    "cifar10": {"data": {"image_size": 32}, "views": {"name": "simclr", "strength": 0.5}},
    "cifar100": {"data": {"image_size": 32}, "views": {"name": "simclr", "strength": 0.5}},
    "stl10": {"data": {"image_size": 96}, "views": {"name": "simclr", "strength": 1.0}},
    "folder": {"data": {"image_size": 64}, "views": {"name": "simclr", "strength": 1.0}},
}
# defaults that follow trainer.max_steps, so a short run works without touching them
DERIVED = {
    ("optim", "warmup_steps"): ("min(50, trainer.max_steps // 5)", lambda steps: min(50, steps // 5)),
    ("trainer", "checkpoint_every"): ("min(200, trainer.max_steps)", lambda steps: min(200, steps)),
}
# the data and views keys that apply, by dataset and by view recipe: only these are written
# to a run's config.yaml (the others keep their defaults in memory and mean nothing there)
DATA_KEYS = {"cmnist": ("digit_size", "digits", "backgrounds", "root", "download", "seed"),
             "cifar10": ("root", "download"), "cifar100": ("root", "download"),
             "stl10": ("root", "download", "strict", "in_memory", "memory_budget_gb", "workers", "unlabelled"),
             "folder": ("root", "strict", "in_memory", "memory_budget_gb", "workers", "classes_file"), "shapes": ()}
VIEW_KEYS = {"factor-shared": ("shared", "augment"), "clip": ("shared", "frames"), "simclr": ("strength", "min_scale", "n_views"),
             "byol": (), "crop": ("min_scale", "n_views"), "infomin": ("min_scale", "n_views"),
             "patches": ("patch_size", "patch_distance"), "looc": ("augmentations", "min_scale"),
             "looc-pair": ("augmentations", "min_scale"), "compose": ("compose", "branches", "strength", "min_scale"),
             "multicrop": ("strength", "n_global", "n_local", "global_size", "local_size", "global_min_scale",
                           "local_min_scale", "local_max_scale")}
POSITIVE = {("data", "image_size"), ("data", "digit_size"), ("optim", "lr"), ("optim", "batch_size"),
            ("trainer", "max_steps"), ("trainer", "log_every"), ("trainer", "checkpoint_every"),
            ("trainer", "keep_checkpoints"), ("trainer", "devices"), ("trainer", "num_nodes"),
            ("backbone", "width"), ("backbone", "patch_size"), ("eval", "knn_k"), ("eval", "knn_temperature"),
            ("views", "n_views"), ("trainer", "max_nan_skips"), ("trainer", "er_kappa")}
NON_NEGATIVE = {("optim", "weight_decay"), ("optim", "warmup_steps"), ("trainer", "seed"), ("data", "seed"),
                ("trainer", "collapse_std"), ("trainer", "collapse_rank")}
# a resumed run may raise it to train longer (not bitwise an N-step run from scratch: the schedule stretches)
RESUME_EXTENDABLE = ("trainer", "max_steps")
# keys a resumed run may change: none of them alters what is computed, so resume stays exact
RESUME_OVERRIDABLE = {("trainer", "progress"), ("trainer", "on_nan"), ("trainer", "max_nan_skips"),
                      ("trainer", "collapse_std"), ("trainer", "collapse_rank"), ("trainer", "log_every"),
                      ("trainer", "er_monitor"), ("trainer", "er_kappa"), ("trainer", "logger"),
                      ("eval", "enabled"), ("eval", "random_baseline"), ("eval", "knn_k"),
                      ("eval", "knn_temperature"), ("data", "workers")}


def method_defaults(name: str) -> dict[str, Any]:
    from .methods import METHODS
    from .methods.base import hyperparameters

    if name not in METHODS:
        raise ConfigError(f"method.name: unknown method {name!r}; choose from {sorted(METHODS)}")
    return hyperparameters(METHODS[name])


def _check_type(key: str, value: Any, default: Any) -> Any:
    if default is None or value is None and default is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if isinstance(value, bool):  # a switch with a third choice (data.in_memory: auto | true | false)
            return value
        if not isinstance(value, str):
            value = str(value)
        return value
    if isinstance(default, (list, tuple)):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
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


def resolve(user: dict | None = None) -> dict:
    """Defaults + user values, validated. The method section gets the chosen method's
    constructor defaults."""
    user = copy.deepcopy(user or {})
    method = user.get("method", {})
    if isinstance(method, str):
        method = {"name": method}
    name = method.get("name", DEFAULTS["method"]["name"])
    data = user.get("data")
    dataset = data.get("dataset", DEFAULTS["data"]["dataset"]) if isinstance(data, dict) else None
    defaults = deep_update(DEFAULTS, DATASET_DEFAULTS.get(dataset, {}))
    defaults["method"] = {"name": name, **method_defaults(name)}
    user["method"] = method
    cfg = _merge(defaults, user)
    _fill_derived(cfg)
    _validate(cfg)
    return cfg


def _fill_derived(cfg: dict) -> None:
    steps = cfg["trainer"]["max_steps"]
    for (section, key), (_, rule) in DERIVED.items():
        value = cfg[section][key]
        cfg[section][key] = rule(steps) if value is None else _check_type(f"{section}.{key}", value, 0)


def written_config(cfg: dict) -> dict:
    """The config as a run folder records it: without the data keys that do not apply to
    ``data.dataset`` nor the views keys that the chosen recipe does not read (``resolve``
    gives them back their defaults)."""
    out = copy.deepcopy(cfg)
    dataset, recipe = cfg["data"]["dataset"], cfg["views"]["name"]
    # a dataset or recipe missing from the tables keeps all its keys: nothing it reads is dropped
    data_keys = {"dataset", "image_size", *DATA_KEYS.get(dataset, cfg["data"])}
    view_keys = {"name", *VIEW_KEYS.get(recipe, cfg["views"])}
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


def _validate(cfg: dict) -> None:
    from .data import FACTORS
    from .data.colorful_mnist import share_probabilities

    for (section, key), allowed in CHOICES.items():
        if cfg[section][key] not in allowed:
            raise ConfigError(f"{section}.{key}: {cfg[section][key]!r} is not one of {list(allowed)}")
    for section, key in POSITIVE:
        if cfg[section][key] <= 0:
            raise ConfigError(f"{section}.{key}: must be > 0, got {cfg[section][key]}")
    for section, key in NON_NEGATIVE:
        if cfg[section][key] < 0:
            raise ConfigError(f"{section}.{key}: must be >= 0, got {cfg[section][key]}")
    try:
        share_probabilities(cfg["views"]["shared"])
    except ValueError as err:
        raise ConfigError(f"views.shared: {err}") from None
    if not cfg["views"]["shared"]:
        raise ConfigError(f"views.shared: must name at least one of {list(FACTORS)} (with ':0' to share it never)")
    d = cfg["data"]
    if d["digit_size"] > d["image_size"]:
        raise ConfigError(f"data.digit_size ({d['digit_size']}) cannot exceed data.image_size ({d['image_size']})")
    if cfg["views"]["name"] == "factor-shared" and d["dataset"] != "cmnist":
        raise ConfigError(f"views.name: factor-shared views need data.dataset cmnist (got {d['dataset']!r}); "
                          "use an augmentation recipe such as --views.name simclr")
    _validate_clip(cfg)
    _validate_streaming(d)
    if cfg["views"]["name"] == "factor-shared" and cfg["views"]["n_views"] != 2:
        raise ConfigError("views.n_views: factor-shared views come in pairs; set it to 2")
    if not 0 < cfg["views"]["min_scale"] <= 1:
        raise ConfigError(f"views.min_scale: must be in (0, 1], got {cfg['views']['min_scale']}")
    if cfg["views"]["name"] == "patches":
        _validate_patches(cfg["views"], d["image_size"])
    if cfg["views"]["name"] == "multicrop":
        _validate_multicrop(cfg["views"], d["image_size"])
        _check_method_takes_multicrop(cfg)
    _validate_looc(cfg)
    _validate_compose(cfg["views"])
    if cfg["optim"]["warmup_steps"] >= cfg["trainer"]["max_steps"]:
        raise ConfigError(f"optim.warmup_steps ({cfg['optim']['warmup_steps']}) must be smaller than trainer.max_steps "
                          f"({cfg['trainer']['max_steps']}); leave it out for the default "
                          f"{DERIVED[('optim', 'warmup_steps')][0]}")
    _validate_method_ranges(cfg["method"])
    _validate_trainer(cfg)
    _validate_backbone(cfg)


def _validate_backbone(cfg: dict) -> None:
    from .nn.backbones import BACKBONES, TIMM_PREFIX, check_timm_model
    from .nn.vit import VIT_SIZES

    b = cfg["backbone"]
    if b["name"].startswith(TIMM_PREFIX):
        try:
            check_timm_model(b["name"][len(TIMM_PREFIX):])
        except ValueError as err:
            raise ConfigError(str(err)) from None
    elif b["name"] not in BACKBONES:
        raise ConfigError(f"backbone.name: {b['name']!r} is not one of {list(BACKBONES)} or {TIMM_PREFIX}NAME")
    if b["name"] in VIT_SIZES:
        sizes = {"data.image_size": cfg["data"]["image_size"]}
        if cfg["views"]["name"] == "multicrop":
            sizes.update(zip(("views.global_size", "views.local_size"), multicrop_sizes(cfg["views"],
                                                                                      cfg["data"]["image_size"])))
        bad = {k: v for k, v in sizes.items() if v % b["patch_size"]}
        if bad:
            raise ConfigError(f"backbone.patch_size {b['patch_size']}: {b['name']} needs image sides divisible by "
                              f"it; {', '.join(f'{k} is {v}' for k, v in bad.items())}")


def _validate_streaming(d: dict) -> None:
    from .data.datasets import STREAMABLE

    if d["in_memory"] is False and d["dataset"] not in STREAMABLE:
        raise ConfigError(f"data.in_memory false: only {' and '.join(STREAMABLE)} can be streamed from disk, not "
                          f"{d['dataset']!r}; use true or auto")
    if d["workers"] is not None and (isinstance(d["workers"], bool) or not isinstance(d["workers"], int)
                                     or d["workers"] < 0):
        raise ConfigError(f"data.workers: a number of processes >= 0 (0: decode in the training process), or null "
                          f"for the default; got {d['workers']!r}")
    budget = d["memory_budget_gb"]
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0):
        raise ConfigError(f"data.memory_budget_gb: a number of GiB > 0, or null for a quarter of the RAM; got {budget!r}")


def _validate_method_ranges(m: dict) -> None:
    """Ranges the method constructors do not check up front (an EMA momentum would
    otherwise fail only at the first step, after the run folder exists)."""
    for key, value in m.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key.endswith("temperature") and value <= 0:
            raise ConfigError(f"method.{key}: must be > 0, got {value}")
        if key.endswith("momentum") and not 0 <= value <= 1:
            raise ConfigError(f"method.{key}: must be in [0, 1], got {value}")


def _validate_trainer(cfg: dict) -> None:
    t, o = cfg["trainer"], cfg["optim"]
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
        keys = values.items() if isinstance(values, dict) else [(None, values)]
        for key, _ in keys:
            if (section, key) not in RESUME_OVERRIDABLE | {RESUME_EXTENDABLE}:
                name = section if key is None else f"{section}.{key}"
                allowed = sorted(f"{s}.{k}" for s, k in RESUME_OVERRIDABLE)
                raise ConfigError(f"{name}: cannot be changed when resuming (the run would no longer continue "
                                  f"exactly); keys a resume may change: {allowed}, and trainer.max_steps may be "
                                  "raised to train longer")


def config_differences(a: dict, b: dict) -> list[tuple[str, str]]:
    """The (section, key) pairs whose values differ between two resolved configs."""
    return [(section, key) for section in sorted(set(a) | set(b))
            for key in sorted(set(a.get(section, {})) | set(b.get(section, {})))
            if a.get(section, {}).get(key) != b.get(section, {}).get(key)]


def multicrop_sizes(views: dict, image_size: int) -> tuple[int, int]:
    """(global, local) crop sides of the multicrop recipe, defaults filled in."""
    global_size = views["global_size"] or image_size
    return global_size, views["local_size"] or max(1, round(global_size * 96 / 224))


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


def _validate_looc(cfg: dict) -> None:
    """LooC trains on leave-one-out views and nothing else trains on them (``looc-pair`` gives
    other methods two views with the same augmentations)."""
    from .views.looc import AUGMENTATIONS

    v = cfg["views"]
    bad = [a for a in v["augmentations"] if a not in AUGMENTATIONS]
    if bad or not v["augmentations"] or len(set(v["augmentations"])) != len(v["augmentations"]):
        raise ConfigError(f"views.augmentations: {v['augmentations']} must be distinct names from "
                          f"{sorted(AUGMENTATIONS)} (bad: {bad})")
    if (cfg["method"]["name"] == "looc") != (v["name"] == "looc"):
        raise ConfigError(f"views.name {v['name']!r} with method {cfg['method']['name']!r}: method looc takes "
                          "--views.name looc (leave-one-out views), and only it does; other methods can use "
                          "the same augmentations with --views.name looc-pair")


def _validate_clip(cfg: dict) -> None:
    """Clip views (a moving-digit clip against a frame) are for method clip-simclr, and only they are."""
    v = cfg["views"]
    if (cfg["method"]["name"] == "clip-simclr") != (v["name"] == "clip"):
        raise ConfigError(f"views.name {v['name']!r} with method {cfg['method']['name']!r}: method clip-simclr "
                          "takes --views.name clip (a clip of frames against one frame), and only it does")
    if v["name"] == "clip" and cfg["data"]["dataset"] != "cmnist":
        raise ConfigError(f"views.name: clip views need data.dataset cmnist (got {cfg['data']['dataset']!r})")
    if isinstance(v["frames"], bool) or not isinstance(v["frames"], int) or not 1 <= v["frames"] <= 16:
        raise ConfigError(f"views.frames: expected a whole number of frames in 1..16, got {v['frames']!r}")


def _validate_compose(v: dict) -> None:
    from .views.compositions import check_composition

    try:
        check_composition(v["compose"])
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _validate_patches(v: dict, image_size: int) -> None:
    from .views.patches import max_distance

    if not 0 < v["patch_size"] <= image_size:
        raise ConfigError(f"views.patch_size: must be in (0, data.image_size={image_size}], got {v['patch_size']}")
    if not 0 <= v["patch_distance"] <= max_distance(image_size, v["patch_size"]):
        raise ConfigError(f"views.patch_distance: must be in [0, {max_distance(image_size, v['patch_size']):.2f}] "
                          f"for {v['patch_size']}-px patches of {image_size}-px images, got {v['patch_distance']}")
    if v["n_views"] != 2:
        raise ConfigError("views.n_views: patch views come in pairs; set it to 2")


def _check_method_takes_multicrop(cfg: dict) -> None:
    from .methods import METHODS

    name = cfg["method"]["name"]
    if cfg["views"]["n_local"] > 0 and not getattr(METHODS[name], "accepts_multicrop", False):
        takers = sorted(m for m, cls in METHODS.items() if getattr(cls, "accepts_multicrop", False))
        raise ConfigError(f"views.name multicrop: method {name!r} takes views of one size only; use views.n_local 0 "
                          f"or one of {takers}")


# short flags: --devices N, --num-nodes N, --strategy ddp (Lightning's names) for --trainer.KEY
TRAINER_ALIASES = ("devices", "num_nodes", "strategy")


def parse_overrides(args: list[str]) -> dict:
    """``["--optim.lr", "0.1", "--method", "simclr"]`` -> nested dict. Values are parsed
    as YAML scalars; ``--method X`` is short for ``--method.name X``, and ``--devices``,
    ``--num-nodes``, ``--strategy`` for ``--trainer.devices`` etc."""
    out: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"expected --key value, got {arg!r}")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"--{key} needs a value")
            value = args[i + 1]
            i += 1
        i += 1
        parts = key.replace("-", "_").split(".") if key != "method" else ["method", "name"]
        if parts[0] in TRAINER_ALIASES:
            parts = ["trainer", parts[0]]
        if len(parts) == 1:
            raise ConfigError(f"--{key}: use --section.key (sections: {sorted(DEFAULTS)})")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parse_yaml(value, f"--{key}") if value != "" else ""
    return out


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1), plus YAML 1.2's floats: ``1e-3`` is a number
    (YAML 1.1 wants ``1.0e-3`` and reads ``1e-3`` as a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_yaml(text: str, source: str):
    """``text`` as YAML (``_Loader``); ``ConfigError`` naming ``source`` if it is not YAML."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{source} is not valid YAML{at}: {problem}") from err


def load_yaml(path: str | Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError as err:
        raise ConfigError(f"config file not found: {path}") from err
    data = parse_yaml(text, f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data
