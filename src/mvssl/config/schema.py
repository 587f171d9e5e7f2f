"""The config's sections as typed dataclasses, one schema per view recipe, and the tables
that follow from them (defaults, keys a dataset reads, keys a resume may change).
``configs/default.yaml`` shows every key with what it means."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    pass


def key(default, *, choices: tuple = (), bound: str = "", resumable: bool = False):
    """A config key: its default, the values it may take, ``bound`` ">0" or ">=0", and whether
    a resumed run may change it (only keys that do not alter what is computed)."""
    kind = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"choices": choices, "bound": bound, "resumable": resumable}, **kind)


@dataclass
class Data:
    dataset: str = key("cmnist", choices=("cmnist", "shapes", "cifar10", "cifar100", "stl10", "folder", "webdataset",
                                          "hf"))
    image_size: int = key(24, bound=">0")
    digit_size: int = key(16, bound=">0")
    digits: str = key("offline", choices=("offline", "mnist"))
    backgrounds: str = key("photos", choices=("photos", "stl10", "noise", "black"))
    digit_colors: str = key("white", choices=("white", "warm"))
    root: str = "data"
    download: bool = False
    strict: bool = False  # folder: fail on an unreadable image instead of skipping it
    seed: int = key(0, bound=">=0")
    in_memory: str | bool = key("auto", choices=("auto", True, False))  # folder, stl10: false streams from disk
    memory_budget_gb: float | None = None  # in_memory auto; None: a quarter of the RAM
    workers: int | None = key(None, resumable=True)  # streaming: decoding processes; None: by the cores
    classes_file: str | None = None  # folder: the class folders to keep
    unlabelled: bool = True  # stl10: train on the 100,000 unlabelled images too
    channels: int = key(3, bound=">0")  # folder, webdataset, hf: channels of every image (3: RGB; .npy: any)
    image_key: str | None = None  # hf: the image column; None: "image"
    label_key: str | None = None  # hf: the label column; None: "label" when there is one


# One schema per view recipe (--views.name): the keys that recipe reads. The views section
# holds the keys of all of them (a key two recipes read has one default and one rule); a
# run folder records its own recipe's keys only (``written_config``).
@dataclass
class FactorSharedViews:  # two renders that share the listed factors (Colorful-Moving-MNIST)
    shared: list = key(["digit"])  # "factor:p": shared with probability p
    augment: str = key("none", choices=("none", "simclr"))  # simclr also reads strength and min_scale


@dataclass
class ClipViews:  # a clip of the moving digit against one frame (method clip-simclr)
    shared: list = key(["digit"])
    frames: int = 3


@dataclass
class CropViews:  # crop (crop + flip, for CMC) and infomin
    min_scale: float = 0.08
    n_views: int = key(2, bound=">0")


@dataclass
class SimCLRViews(CropViews):
    strength: float = 0.5  # colour-distortion strength s


@dataclass
class ByolViews:  # BYOL's two asymmetric recipes: nothing to set
    pass


@dataclass
class PatchViews:  # two patches of each image (InfoMin Fig. 3)
    patch_size: int = 12
    patch_distance: float = 0.0


@dataclass
class LoocViews:  # looc (leave-one-out views) and looc-pair
    augmentations: list = key(["color", "rotate", "blur"])
    min_scale: float = 0.08


@dataclass
class ComposeViews:  # SimCLR's augmentations in the given order (views/compositions.py)
    compose: list = key(["crop", "color"])
    branches: str = key("both", choices=("one", "both"))
    strength: float = 0.5
    min_scale: float = 0.08


@dataclass
class MulticropViews:  # large crops first, then small ones (methods tell them apart by size)
    strength: float = 0.5
    n_global: int = 2
    n_local: int = 6
    global_size: int | None = None  # None: data.image_size
    local_size: int | None = None  # None: DINO's 96/224 of global_size
    global_min_scale: float = 0.4
    local_min_scale: float = 0.05
    local_max_scale: float = 0.4


VIEW_RECIPES = {"factor-shared": FactorSharedViews, "simclr": SimCLRViews, "byol": ByolViews,
                "multicrop": MulticropViews, "crop": CropViews, "infomin": CropViews, "patches": PatchViews,
                "looc": LoocViews, "looc-pair": LoocViews, "compose": ComposeViews, "clip": ClipViews}


@dataclass
class Views:  # the section: the recipe's name; the keys of every recipe follow it
    name: str = key("factor-shared", choices=tuple(VIEW_RECIPES))


@dataclass
class Backbone:
    name: str = "convnet"  # checked by build (nn's backbones, timm:NAME)
    width: int = key(16, bound=">0")  # convnet
    cifar_stem: bool = True  # resnets
    patch_size: int = key(4, bound=">0")  # vit-tiny, vit-small


@dataclass
class Optim:
    name: str = key("adamw", choices=("adamw", "sgd", "lars"))
    lr: float = key(2e-3, bound=">0")
    weight_decay: float = key(1e-4, bound=">=0")
    momentum: float = 0.9
    batch_size: int = key(128, bound=">0")
    warmup_steps: int | None = key(None, bound=">=0")  # derived (DERIVED)
    schedule: str = key("cosine", choices=("cosine", "constant"))


@dataclass
class Trainer:
    max_steps: int = key(1500, bound=">0")  # a resume may raise it (RESUME_EXTENDABLE)
    seed: int = key(0, bound=">=0")
    precision: str = key("auto", choices=("auto", "32", "bf16-mixed", "16-mixed"))
    channels_last: bool = True
    accelerator: str = key("auto", choices=("auto", "cpu", "gpu", "cuda", "mps"))
    devices: int = key(1, bound=">0")
    num_nodes: int = key(1, bound=">0")
    strategy: str = "auto"
    sync_batchnorm: bool = False
    log_every: int = key(10, bound=">0", resumable=True)
    checkpoint_every: int | None = key(None, bound=">0")  # derived (DERIVED)
    keep_checkpoints: int = key(2, bound=">0")
    deterministic: bool = False
    on_nan: str = key("stop", choices=("stop", "skip"), resumable=True)
    max_nan_skips: int = key(5, bound=">0", resumable=True)
    collapse_std: float = key(0.1, bound=">=0", resumable=True)
    collapse_rank: float = key(1.5, bound=">=0", resumable=True)
    er_monitor: bool = key(True, resumable=True)
    er_kappa: float = key(10.0, bound=">0", resumable=True)
    progress: bool = key(True, resumable=True)
    logger: str = key("csv", choices=("csv", "tensorboard", "wandb"), resumable=True)
    compile: bool = False
    out_dir: str = "runs"
    name: str | None = None


@dataclass
class Eval:
    enabled: bool = key(True, resumable=True)
    random_baseline: bool = key(True, resumable=True)
    knn_k: int = key(20, bound=">0", resumable=True)
    knn_temperature: float = key(0.07, bound=">0", resumable=True)


def _default(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


def _views_fields() -> dict[str, Any]:
    union = {f.name: f for f in fields(Views)}
    for recipe in dict.fromkeys(VIEW_RECIPES.values()):
        for f in fields(recipe):
            if f.name in union and (_default(union[f.name]), union[f.name].metadata) != (_default(f), f.metadata):
                raise TypeError(f"views.{f.name}: two recipes give it different defaults or rules")
            union.setdefault(f.name, f)
    return union


SECTIONS = {"data": Data, "views": Views, "backbone": Backbone, "optim": Optim, "trainer": Trainer, "eval": Eval}
FIELDS = {section: list(_views_fields().values()) if section == "views" else list(fields(cls))
          for section, cls in SECTIONS.items()}
DEFAULTS: dict[str, Any] = {"method": {"name": "simclr"},
                            **{s: {f.name: _default(f) for f in FIELDS[s]} for s in SECTIONS}}
# a dataset other than Colorful-Moving-MNIST starts from its own image size and an augmentation
# recipe, with SimCLR's colour strength for that kind of image (0.5 CIFAR, 1.0 photos)
DATASET_DEFAULTS = {
    "cifar10": {"data": {"image_size": 32}, "views": {"name": "simclr", "strength": 0.5}},
    "cifar100": {"data": {"image_size": 32}, "views": {"name": "simclr", "strength": 0.5}},
    "stl10": {"data": {"image_size": 96}, "views": {"name": "simclr", "strength": 1.0}},
    "folder": {"data": {"image_size": 64}, "views": {"name": "simclr", "strength": 1.0}},
    "webdataset": {"data": {"image_size": 64}, "views": {"name": "simclr", "strength": 1.0}},
    "hf": {"data": {"image_size": 64}, "views": {"name": "simclr", "strength": 1.0}},
}
# defaults that follow trainer.max_steps, so a short run works without touching them
DERIVED = {
    ("optim", "warmup_steps"): ("min(50, trainer.max_steps // 5)", lambda steps: min(50, steps // 5)),
    ("trainer", "checkpoint_every"): ("min(200, trainer.max_steps)", lambda steps: min(200, steps)),
}
# the data keys each dataset reads: only these are written to a run's config.yaml
DATA_KEYS = {"cmnist": ("digit_size", "digits", "backgrounds", "root", "download", "seed"),
             "cifar10": ("root", "download"), "cifar100": ("root", "download"),
             "stl10": ("root", "download", "strict", "in_memory", "memory_budget_gb", "workers", "unlabelled"),
             "folder": ("root", "strict", "in_memory", "memory_budget_gb", "workers", "classes_file", "channels"),
             "webdataset": ("root", "strict", "in_memory", "memory_budget_gb", "workers", "channels"),
             "hf": ("root", "strict", "in_memory", "memory_budget_gb", "workers", "channels", "image_key", "label_key"),
             "shapes": ()}
# a resume may raise it to train longer (not bitwise an N-step run from scratch: the schedule stretches)
RESUME_EXTENDABLE = ("trainer", "max_steps")
RESUME_OVERRIDABLE = {(s, f.name) for s in SECTIONS for f in FIELDS[s] if f.metadata.get("resumable")}
