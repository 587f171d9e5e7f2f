"""From a config to the objects of a run: the config resolved and checked against the registries of the
layers below (``resolve``, ``checks``), then dataset, view source, backbone, heads and method, and a
trained method loaded back from its run folder (``load_method``). Below ``encoder``, ``train``, ``eval``
and ``info``, so loading an encoder or measuring a run never imports the trainer."""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from .checkpoint_io import latest_complete_checkpoint
from .checks import check_names
from .config import ConfigError, as_config_error, multicrop_sizes, refuse_keys_that_do_nothing, resolve_config
from .config_text import load_yaml
from .data import ColorfulMovingMNIST
from .data.datasets import LabelledImages, cmnist_splits, load_dataset
from .data.files import FileSplits
from .methods import METHODS
from .methods.base import hyperparameters
from .methods.looc import looc_heads
from .methods.view_learning import LearnedViewsEncoder
from .nn import SplitEncoder, build_backbone
from .views import AugmentedViews, ClipViews, FactorSharedViews, Recipe, byol, crop, infomin, multicrop, simclr
from .views.compositions import composition_views
from .views.looc import augmentation_recipe, looc_views
from .views.patches import PatchPairViews
from .nn.teacher import FrozenTeacher, first_conv_channels
from .weights import Weights, WeightsError, load_into, read_weights


def method_hyperparameters(name: str) -> dict:
    """Method ``name``'s config section with its defaults (``methods.base.hyperparameters``)."""
    if name not in METHODS:
        raise ConfigError(f"method.name: unknown method {name!r}; choose from {sorted(METHODS)}")
    return hyperparameters(METHODS[name])


def resolve(user: dict | None = None) -> dict:
    """A whole config, resolved and validated: ``config.resolve_config`` with the chosen
    method's hyperparameters, then the names the layers below own. Run it before anything
    is created: a bad config fails with one ``ConfigError`` naming the key."""
    cfg = resolve_config(vit_by_default(user), method_hyperparameters)
    check_names(cfg)
    refuse_keys_that_do_nothing(cfg, user or {}, "data")
    return cfg


def vit_by_default(user: dict | None) -> dict | None:
    """A method that ``requires_vit`` (MAE) gets ``backbone.name vit-tiny`` unless the user
    named a backbone: ``mvssl train --method mae`` works as it is."""
    if not isinstance(user, dict):
        return user
    method, backbone = user.get("method"), user.get("backbone")
    name = method.get("name") if isinstance(method, dict) else method
    if not isinstance(name, str) or not getattr(METHODS.get(name), "requires_vit", False) or (
            isinstance(backbone, dict) and "name" in backbone):
        return user
    return {**user, "backbone": {**(backbone if isinstance(backbone, dict) else {}), "name": "vit-tiny"}}


def channels(cfg: dict) -> int:
    """``data.channels`` (configs written before it existed: 3)."""
    return cfg["data"].get("channels", 3)


def build_dataset(cfg: dict, split: str = "train", warn=None) -> ColorfulMovingMNIST | LabelledImages | FileSplits:
    """Colorful-Moving-MNIST, or the train/test images of another dataset resized to
    ``data.image_size``: decoded (``LabelledImages``; an image folder's unreadable files are
    skipped and listed) or, by ``data.in_memory``, left on disk to stream (``FileSplits``)."""
    d = cfg["data"]
    if d["dataset"] != "cmnist":
        return load_dataset(d["dataset"], d["root"], d["image_size"], d["download"], d["strict"],
                            in_memory=d["in_memory"], memory_budget_gb=d["memory_budget_gb"],
                            classes_file=d["classes_file"], unlabelled=d["unlabelled"], copies=cfg["trainer"]["devices"],
                            channels=channels(cfg), image_key=d["image_key"], label_key=d["label_key"], warn=warn)
    return cmnist_splits(d, (split,))[split]


def build_view_source(cfg: dict, dataset: ColorfulMovingMNIST | LabelledImages | FileSplits):
    """The views of a step; over streamed ``FileSplits`` a source without images, which the
    loader's batches go through (``InMemoryViews.views_of``)."""
    v, size = cfg["views"], cfg["data"]["image_size"]
    make_recipe = {
        "simclr": lambda: simclr(size, strength=v["strength"], min_scale=v["min_scale"]),
        "crop": lambda: crop(size, min_scale=v["min_scale"], **normalisation(cfg)),
        "infomin": lambda: infomin(size, min_scale=v["min_scale"]),
    }
    if v["name"] == "factor-shared":
        return FactorSharedViews(dataset, v["shared"], make_recipe["simclr"]() if v["augment"] == "simclr" else None)
    if v["name"] == "clip":
        return ClipViews(dataset, v["shared"], v["frames"])
    if isinstance(dataset, FileSplits):
        images, factors = None, {}
    elif isinstance(dataset, LabelledImages):
        images, factors = dataset.train_images, {"label": dataset.train_labels}
    else:
        images, factors = dataset.frames()
    if v["name"] == "looc":
        return looc_views(images, factors, size, v["augmentations"], v["min_scale"])
    if v["name"] == "looc-pair":
        return AugmentedViews(images, factors, [augmentation_recipe(size, v["augmentations"], v["min_scale"])
                                                for _ in range(2)])
    if v["name"] == "compose":
        return composition_views(images, factors, size, v["compose"], v["branches"], v["strength"], v["min_scale"])
    if v["name"] == "patches":
        return PatchPairViews(images, factors, v["patch_size"], v["patch_distance"],
                              digit_box=cfg["data"]["digit_size"] if v["patch_within"] == "digit" else None)
    if v["name"] == "byol":
        return AugmentedViews(images, factors, byol(size))
    if v["name"] == "multicrop":
        global_size, local_size = multicrop_sizes(v, size)
        recipes = multicrop(global_size, local_size, v["n_global"], v["n_local"], (v["global_min_scale"], 1.0),
                            (v["local_min_scale"], v["local_max_scale"]), strength=v["strength"])
        return AugmentedViews(images, factors, recipes)
    return AugmentedViews(images, factors, [make_recipe[v["name"]]() for _ in range(v["n_views"])])


def backbone_factory(cfg: dict):
    """``factory(in_channels) -> (module, feature dim)`` for the configured backbone."""
    b = cfg["backbone"]
    patch_size = b.get("patch_size", 4)  # encoders saved before backbone.patch_size existed have no ViT
    # a method declares how its ViT is read (``vit_pool``: I-JEPA and MAE average the patch tokens),
    # so the run's encoder, its random-init twin and every later load read it the same way
    pool = getattr(METHODS.get(cfg["method"]["name"]), "vit_pool", "cls")
    return functools.partial(build_backbone, b["name"], b["width"], b["cifar_stem"], patch_size=patch_size,
                             pool=pool)


def build_backbone_from(cfg: dict) -> tuple[torch.nn.Module, int]:
    return backbone_factory(cfg)(in_channels=channels(cfg))


def normalisation(cfg: dict) -> dict:
    """The mean and std every recipe normalises with, one value per channel (``data.channels``)."""
    mean, std = Recipe([]).mean, Recipe([]).std
    n = channels(cfg)
    return {"mean": mean if n == 3 else (mean[0],) * n, "std": std if n == 3 else (std[0],) * n}


def preprocessing(config: dict) -> dict:
    """What ``Encoder.embed`` does to images before the backbone: the training image size and
    the mean and std every recipe normalises with."""
    return {"image_size": config["data"]["image_size"], **normalisation(config)}


def encoder_attribute(cfg: dict) -> str:
    """The method's attribute that a run keeps as its encoder: ``backbone``, or what the
    method's ``encoder_backbone`` names (I-JEPA: its EMA ``target_backbone``, as the paper
    evaluates)."""
    method = cfg.get("method") if isinstance(cfg, dict) else None
    name = method.get("name") if isinstance(method, dict) else None
    return getattr(METHODS.get(name) if isinstance(name, str) else None, "encoder_backbone", "backbone")


def encoder_state(weights: Weights, part: str = "") -> dict:
    """An mvssl file's encoder tensors: its backbone (``part=""``: of a training checkpoint, the
    one the run keeps, ``encoder_attribute``), or its LooC ``heads`` or ``projector``."""
    if weights.kind != "mvssl-checkpoint":
        return (weights.parts.get(part) or {}) if part else weights.tensors
    prefix = {"": encoder_attribute(weights.config), "heads": "projectors", "projector": "projector"}[part] + "."
    return {k[len(prefix):]: v for k, v in weights.method_state.items() if k.startswith(prefix)}


def build_encoder_backbone(cfg: dict) -> torch.nn.Module:
    """The architecture of ``method.backbone`` for this config: what a run saves as its encoder
    and ``mvssl.load`` rebuilds."""
    if cfg["method"]["name"] == "cmc":  # one encoder per colour-channel view
        return SplitEncoder(cfg["method"]["channels"], backbone_factory(cfg))
    if cfg["method"]["name"] == "view-learning":  # a learned view generator and the CMC encoders on its views
        pre = preprocessing(cfg)
        return LearnedViewsEncoder.from_config(cfg["method"], pre["mean"], pre["std"])
    return build_backbone_from(cfg)[0]


def build_encoder_heads(cfg: dict) -> torch.nn.ModuleList | None:
    """The heads a run saves beside its encoder: LooC's n + 1 query heads (the LooC++
    representation), None for other methods."""
    if cfg["method"]["name"] != "looc":
        return None
    m = cfg["method"]
    return looc_heads(build_backbone_from(cfg)[1], len(cfg["views"]["augmentations"]) + 1, m["proj_hidden_dim"],
                      m["proj_dim"])


def build_projector(cfg: dict, state: dict) -> torch.nn.Module | None:
    """``method.projector`` of this config holding ``state`` (what ``Encoder.embed(...,
    representation="projection")`` runs after the backbone), or None for a method without one."""
    try:
        method, _ = build_method(cfg, num_samples=2 * cfg["optim"]["batch_size"])  # a memory's length: any will do
    except Exception:  # noqa: BLE001 - a config this method no longer builds from: the encoder loads without it
        return None
    projector = getattr(method, "projector", None)
    if not isinstance(projector, torch.nn.Module):
        return None
    projector.load_state_dict(state)
    return projector


def build_method(cfg: dict, num_samples: int | None = None, initial: Weights | None = None
                 ) -> tuple[torch.nn.Module, int]:
    """The method and the feature dimension its online probe reads: its config section as keyword arguments
    plus what its class ``needs`` from the run (``methods.base.NEEDS``). ``initial``: backbone weights,
    loaded before the method is made (so EMA targets and teachers copy them); from an mvssl checkpoint the
    method's other tensors are carried over where names and shapes match (``carry_method_state``)."""
    cls = METHODS[cfg["method"]["name"]]
    if initial is not None and "backbone_factory" in cls.needs:
        raise ConfigError(f"method {cfg['method']['name']} builds its own encoders (one per view): it cannot start "
                          "from backbone.weights or --init-from")
    if "num_samples" in cls.needs and num_samples is None:
        raise ValueError(f"method {cfg['method']['name']} needs the number of training samples")
    from_run = {"num_samples": lambda: num_samples, "augmentations": lambda: list(cfg["views"]["augmentations"]),
                "frames": lambda: cfg["views"]["frames"], "teacher_network": lambda: build_teacher(cfg)}
    kwargs = {k: v for k, v in cfg["method"].items() if k != "name"}
    kwargs.update({need: from_run[need]() for need in cls.needs if need in from_run})
    if "backbone_factory" in cls.needs:
        method = cls(backbone_factory(cfg), **kwargs)
        return method, method.feature_dim
    backbone, dim = build_backbone_from(cfg)
    fitted = load_into(backbone, initial, f"backbone {cfg['backbone']['name']}") if initial is not None else None
    method = cls(backbone, dim, **kwargs)
    if fitted is not None:
        method.initial_fit = fitted
    if initial is not None and (initial.method_state or cfg["trainer"].get("init_from")):
        # --init-from an encoder (encoder.pt, an export): nothing beside the backbone to carry, all redrawn
        method.carried_state = carry_method_state(method, initial.method_state)
    return method, dim


def build_teacher(cfg: dict) -> tuple[FrozenTeacher, int]:
    """The frozen teacher of ``method.teacher`` and its feature dimension: an mvssl run,
    encoder or checkpoint is rebuilt from its own config (and fed the student's views resized
    to the image size it was trained at); any other weight file is loaded into
    ``method.teacher_backbone`` (``teacher_width``, ``teacher_cifar_stem``), fed the views as
    they are. A teacher that reads other channels than the student's images is refused."""
    m, wanted = cfg["method"], cfg["data"].get("channels", 3)
    with as_config_error(f"method.teacher {m['teacher']}: ", WeightsError):
        weights = read_weights(m["teacher"])
    weights.tensors = encoder_state(weights)  # of a checkpoint, the backbone the run keeps (I-JEPA: its EMA target)
    if isinstance(weights.config, dict) and isinstance(weights.config.get("backbone"), dict):
        net, name = build_encoder_backbone(weights.config), weights.config["backbone"]["name"]
        image_size = weights.config["data"]["image_size"]
    elif not m["teacher_backbone"]:
        raise ConfigError(f"method.teacher {m['teacher']}: a weight file without an mvssl config; name its "
                          "architecture with method.teacher_backbone (e.g. resnet18, convnet, timm:NAME)")
    else:
        name, image_size = m["teacher_backbone"], None
        with as_config_error("method.teacher_backbone: "):
            net, _ = build_backbone(name, m["teacher_width"], m["teacher_cifar_stem"], in_channels=wanted)
    first = next((t for t in weights.tensors.values() if t.ndim == 4), None)  # the first convolution's kernel
    channels = first_conv_channels(net) if first is None or first.shape[1] == wanted else first.shape[1]
    if channels is not None and channels != wanted:
        raise ConfigError(f"method.teacher {m['teacher']}: it reads {channels}-channel images, the student's views "
                          f"have {wanted}")
    with as_config_error("method.teacher: ", WeightsError):
        load_into(net, weights, f"teacher {name}")
    teacher = FrozenTeacher(net, image_size)
    with torch.no_grad():
        dim = teacher(torch.zeros(2, wanted, cfg["data"]["image_size"], cfg["data"]["image_size"])).shape[-1]
    return teacher, dim


def carry_method_state(method: torch.nn.Module, source: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy into ``method`` the tensors of another run's method (``source``, keys without
    ``method.``) whose names and shapes match, beside the backbone (already loaded): heads and
    EMA targets carry over, the rest stay freshly drawn. Returns the module names carried and
    redrawn."""
    own = method.state_dict()
    carried = {k: v for k, v in source.items() if not k.startswith("backbone.") and k in own and v.shape == own[k].shape}
    method.load_state_dict(carried, strict=False)
    tops = lambda keys: sorted({k.split(".")[0] for k in keys})  # noqa: E731
    return {"carried": tops(carried), "redrawn": tops(k for k in own if not k.startswith("backbone.")
                                                       and k not in carried)}


def load_method(run_dir: str | Path, num_samples: int | None = None, warn=print) -> tuple[dict, torch.nn.Module]:
    """A run's resolved config and its method, with the weights of its newest complete
    checkpoint (loaded with ``weights_only``), in eval mode. ``num_samples``: the training-set
    size, for a method that ``needs`` it (its memory bank is that long)."""
    run_dir = Path(run_dir)
    cfg = resolve(load_yaml(run_dir / "config.yaml"))
    method, _ = build_method(cfg, num_samples=num_samples)
    found = latest_complete_checkpoint(run_dir, warn)
    if found is None:
        raise FileNotFoundError(f"{run_dir}: no checkpoint yet")
    trained = found[1].get("mvssl_config", {}).get("method", {}).get("name")
    if trained != cfg["method"]["name"]:
        raise ValueError(f"{found[0]} is a checkpoint of method {trained!r}, but {run_dir} is a "
                         f"{cfg['method']['name']!r} run (config.yaml): a checkpoint of another run; move it out of "
                         f"{found[0].parent}")
    state = found[1]["state_dict"]
    method.load_state_dict({k.removeprefix("method."): v for k, v in state.items() if k.startswith("method.")})
    return cfg, method.eval()
