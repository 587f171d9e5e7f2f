"""The config's sections, one declarative table each: every key's default, rule (choices or a
bound), type (its default's, or ``kind``) and whether a resume may change it; the keys each view
recipe and each dataset reads; what follows from them. ``configs/default.yaml`` says what each key
means. A new key: ``name=Key(default, rule)`` (or ``name=default``) in its section, and in the
``VIEW_RECIPES`` or ``DATASETS`` rows that read it; a rule between keys goes in ``config.RULES``."""
import copy
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Key:
    default: Any
    rule: tuple | str = ()  # the values it may take, or a bound of BOUNDS (None passes)
    kind: str = ""  # the type of a key whose default is None: int, float or str
    resumable: bool = False  # a resumed run may change it (it does not alter what is computed)
    why: str = ""  # what to say when the bound fails, instead of "must be > 0"


BOUNDS = {"> 0": lambda v: v > 0, ">= 0": lambda v: v >= 0, "in (0, 1]": lambda v: 0 < v <= 1,
          "in [0, 1)": lambda v: 0 <= v < 1, "in [0, 1]": lambda v: 0 <= v <= 1, "in [1, 16]": lambda v: 1 <= v <= 16}
R = {"resumable": True}
_CROP = ("min_scale", "n_views")
# each view recipe's own keys (its schema): a run folder records only these, another recipe's key is refused
VIEW_RECIPES = {"factor-shared": ("shared", "augment"), "simclr": (*_CROP, "strength"), "byol": (),
                "multicrop": ("strength", "n_global", "n_local", "global_size", "local_size", "global_min_scale",
                              "local_min_scale", "local_max_scale"),
                "crop": _CROP, "infomin": _CROP, "patches": ("patch_size", "patch_distance", "patch_within"),
                "looc": ("augmentations", "min_scale"), "looc-pair": ("augmentations", "min_scale"),
                "compose": ("compose", "branches", "strength", "min_scale"), "clip": ("shared", "frames")}

_FILES = ("root", "strict", "in_memory", "memory_budget_gb", "workers")
# each dataset: the data keys it reads (only these are written to a run's config.yaml) and, for a dataset other
# than Colorful-Moving-MNIST, its own image size and SimCLR's colour strength for that kind of image (0.5 CIFAR,
# 1.0 photos): it starts from the simclr augmentation recipe
DATASETS = {"cmnist": (("digit_size", "digits", "backgrounds", "digit_colors", "root", "download", "seed"), ()),
            "shapes": ((), ()), "scattered-shapes": ((), ()), "cifar10": (("root", "download"), (32, 0.5)),
            "cifar100": (("root", "download"), (32, 0.5)),
            "stl10": (("download", *_FILES, "unlabelled"), (96, 1.0)),
            "folder": ((*_FILES, "classes_file", "channels"), (64, 1.0)),
            "webdataset": ((*_FILES, "channels", "shard_order"), (64, 1.0)),
            "hf": ((*_FILES, "channels", "image_key", "label_key"), (64, 1.0))}

SCHEMA: dict[str, dict[str, Any]] = {
    "data": dict(
        dataset=Key("cmnist", tuple(DATASETS)),
        image_size=Key(24, "> 0"), digit_size=Key(16, "> 0"), digits=Key("offline", ("offline", "mnist")),
        backgrounds=Key("photos", ("photos", "stl10", "noise", "black")), digit_colors=Key("white", ("white", "warm", "warm4", "warm8")),
        root="data", download=False, strict=False,  # strict (folder): fail on an unreadable image, not skip it
        seed=Key(0, ">= 0"), in_memory=Key("auto", ("auto", True, False)),  # folder, stl10: false streams from disk
        memory_budget_gb=Key(None, "> 0", "float", why="a number of GiB > 0, or null for a quarter of the RAM"),
        workers=Key(None, ">= 0", "int", True, "a number of processes >= 0 (0: decode in the training process), "
                                               "or null for the default"),  # streaming: decoding processes
        classes_file=Key(None, kind="str"),  # folder: the class folders to keep
        unlabelled=True,  # stl10: train on the 100,000 unlabelled images too
        channels=Key(3, "> 0"),  # folder, webdataset, hf: channels of every image (3: RGB; .npy arrays: any)
        shard_order=False,  # webdataset streamed: shards shuffled each epoch, each read front to back
        image_key=Key(None, kind="str"), label_key=Key(None, kind="str")),  # hf: columns; null: image, label
    "views": dict(  # every recipe's keys, each with one default and one rule
        name=Key("factor-shared", tuple(VIEW_RECIPES)),
        shared=["digit"], augment=Key("none", ("none", "simclr")),  # factors two renders share ("factor:p")
        strength=Key(0.5, ">= 0", why="the colour-distortion strength s scales the jitter (0: none, SimCLR uses "
                                      "0.5 to 1); it cannot be negative"),
        min_scale=Key(0.08, "in (0, 1]"), n_views=Key(2, "> 0"),
        n_global=Key(2, "> 0"), n_local=Key(6, ">= 0"),  # multicrop: large crops first, then small ones
        global_size=Key(None, "> 0", "int", why="expected a positive integer number of pixels"),  # null: image_size
        local_size=Key(None, "> 0", "int", why="expected a positive integer number of pixels"),  # null: 96/224 of it
        global_min_scale=Key(0.4, "in (0, 1]"), local_min_scale=0.05, local_max_scale=0.4,
        augmentations=["color", "rotate", "blur"],  # looc: one embedding space left out per augmentation
        compose=["crop", "color"], branches=Key("both", ("one", "both")),  # SimCLR's augmentations in this order
        patch_size=12, patch_distance=0.0,  # patches: two patches of each image (InfoMin Fig. 3)
        patch_within=Key("frame", ("frame", "digit")),  # patches: anywhere, or both in the digit's box (cmnist)
        frames=Key(3, "in [1, 16]")),  # clip: a clip of the moving digit against one frame
    "backbone": dict(name="convnet", width=Key(16, "> 0"), cifar_stem=True, patch_size=Key(4, "> 0"),
                     weights=Key(None, kind="str")),  # a weight file or run to start from (weights.py); stored resolved
    "optim": dict(
        name=Key("adamw", ("adamw", "sgd", "lars")), lr=Key(2e-3, "> 0"), weight_decay=Key(1e-4, ">= 0"),
        momentum=Key(0.9, "in [0, 1)"), batch_size=Key(128, "> 0"),
        warmup_steps=Key(None, ">= 0", "int"),  # DERIVED
        schedule=Key("cosine", ("cosine", "constant"))),
    "trainer": dict(
        max_steps=Key(700, "> 0"), seed=Key(0, ">= 0"),  # max_steps: a resume may raise it (RESUME_EXTENDABLE)
        precision=Key("auto", ("auto", "32", "bf16-mixed", "16-mixed")), channels_last=True,
        accelerator=Key("auto", ("auto", "cpu", "gpu", "cuda", "mps")), devices=Key(1, "> 0"),
        num_nodes=Key(1, "> 0"), strategy="auto", sync_batchnorm=False, log_every=Key(10, "> 0", **R),
        checkpoint_every=Key(None, "> 0", "int"),  # DERIVED
        keep_checkpoints=Key(2, "> 0"), deterministic=False, on_nan=Key("stop", ("stop", "skip"), **R),
        max_nan_skips=Key(5, "> 0", **R), collapse_std=Key(0.1, ">= 0", **R), collapse_rank=Key(1.5, ">= 0", **R),
        er_monitor=Key(True, **R), er_kappa=Key(10.0, "> 0", **R), progress=Key(True, **R),
        logger=Key("csv", ("csv", "tensorboard", "wandb"), **R), compile=Key("auto", ("auto", True, False)), out_dir="runs",
        name=Key(None, kind="str"),  # the run folder's name; None: dated
        init_from=Key(None, kind="str")),  # --init-from RUN: a new run from its backbone and matching heads; resolved
    "eval": dict(enabled=Key(True, **R), random_baseline=Key(True, **R), knn_k=Key(20, "> 0", **R),
                 knn_temperature=Key(0.07, "> 0", **R)),
}
SCHEMA = {s: {k: v if isinstance(v, Key) else Key(v) for k, v in keys.items()} for s, keys in SCHEMA.items()}
DEFAULTS: dict[str, Any] = {"method": {"name": "simclr"},
                            **{s: {k: copy.deepcopy(v.default) for k, v in keys.items()} for s, keys in SCHEMA.items()}}
DATASET_DEFAULTS = {name: {"data": {"image_size": own[0]}, "views": {"name": "simclr", "strength": own[1]}}
                    for name, (_, own) in DATASETS.items() if own}
# defaults that follow trainer.max_steps, so a short run works without touching them
DERIVED = {("optim", "warmup_steps"): ("min(50, trainer.max_steps // 5)", lambda steps: min(50, steps // 5)),
           ("trainer", "checkpoint_every"): ("min(200, trainer.max_steps)", lambda steps: min(200, steps))}
# the defaults the registered studies were written against, where a default has changed since (per method
# for a method's hyperparameters): a study arm that leaves such a key out resolves to the value it was
# registered with (``config.as_registered``, in ``studies.spec.arm_config``), so a new default of
# ``mvssl train`` changes no registered study (check: scripts/dump_studies.py before and after, diff -r)
REGISTERED_DEFAULTS: dict[str, dict] = {"trainer": {"max_steps": 1500},
                                        "method": {"simclr": {"temperature": 0.5, "proj_hidden_dim": 2048}}}
# a resume may raise it to train longer (not bitwise an N-step run from scratch: the schedule stretches)
RESUME_EXTENDABLE = ("trainer", "max_steps")
RESUME_OVERRIDABLE = {(s, k) for s, keys in SCHEMA.items() for k, v in keys.items() if v.resumable}
