"""A resolved config checked against the registries of the layers below ``config``: methods,
backbones, factors, augmentations, view compositions, colour-space views and what each method
declares it needs (``requires_vit``, ``accepts_multicrop``, ``own_views``, ``rgb_only``, ...).
``build.resolve`` runs it before anything is created; every error names its key."""
from .colour import parse_views
from .config import ConfigError, as_config_error, multicrop_sizes, written_config
from .data import FACTORS
from .data.colorful_mnist import share_probabilities
from .data.datasets import STREAMABLE
from .methods import METHODS
from .nn.backbones import BACKBONES, TIMM_PREFIX, check_timm_model
from .nn.vit import VIT_SIZES
from .views.compositions import check_composition
from .views.looc import AUGMENTATIONS
from .views.patches import max_distance


def check_names(cfg: dict) -> None:
    """The keys whose allowed values are registries of data, views, nn and methods."""
    v, d = cfg["views"], cfg["data"]
    with as_config_error("views.shared: "):
        share_probabilities(v["shared"])
    if not v["shared"]:
        raise ConfigError(f"views.shared: must name at least one of {list(FACTORS)} (with ':0' to share it never)")
    if d["in_memory"] is False and d["dataset"] not in STREAMABLE:
        raise ConfigError(f"data.in_memory false: only {', '.join(STREAMABLE[:-1])} and {STREAMABLE[-1]} can be "
                          "streamed from disk, not "
                          f"{d['dataset']!r}; use true or auto")
    if v["name"] == "patches":
        size, patch, limit = d["image_size"], v["patch_size"], max_distance(d["image_size"], v["patch_size"])
        if not 0 < patch <= size:
            raise ConfigError(f"views.patch_size: must be in (0, data.image_size={size}], got {patch}")
        if not 0 <= v["patch_distance"] <= limit:
            raise ConfigError(f"views.patch_distance: must be in [0, {limit:.2f}] for {patch}-px patches of "
                              f"{size}-px images, got {v['patch_distance']}")
    name = cfg["method"]["name"]
    owners = {cls.own_views: m for m, cls in METHODS.items() if hasattr(cls, "own_views")}  # (recipe, why): method
    for (recipe, why), owner in owners.items():
        if (name == owner) != (v["name"] == recipe):
            raise ConfigError(f"views.name {v['name']!r} with method {name!r}: method {owner} takes --views.name "
                              f"{recipe}, and only it does ({why})")
    if v["n_views"] < getattr(METHODS[name], "min_crops", 2) and "n_views" in written_config(cfg)["views"]:
        raise ConfigError(f"views.n_views: {v['n_views']} view of an image has nothing to share with another; "
                          "multi-view methods need 2 or more")
    if v["name"] == "multicrop" and v["n_local"] > 0 and not getattr(METHODS[name], "accepts_multicrop", False):
        takers = sorted(m for m, cls in METHODS.items() if getattr(cls, "accepts_multicrop", False))
        raise ConfigError(f"views.name multicrop: method {name!r} takes views of one size only; use views.n_local 0 "
                          f"or one of {takers}")
    bad = [a for a in v["augmentations"] if a not in AUGMENTATIONS]
    if bad or not v["augmentations"] or len(set(v["augmentations"])) != len(v["augmentations"]):
        raise ConfigError(f"views.augmentations: {v['augmentations']} must be distinct names from "
                          f"{sorted(AUGMENTATIONS)} (bad: {bad})")
    with as_config_error():
        check_composition(v["compose"])
    _check_channels(cfg)
    _check_backbone(cfg)


ANY_CHANNEL_VIEWS = ("crop",)  # recipes without colour ops: crop and flip act on every channel


def _check_channels(cfg: dict) -> None:
    """Images of other than 3 channels: views without colour ops, and CMC's channel views as
    channel indices that the images have."""
    n, method = cfg["data"]["channels"], cfg["method"]
    if method["name"] == "cmc":
        with as_config_error(f"method.channels {method['channels']!r}: "):
            spaces, groups = parse_views(method["channels"])
        if spaces and n != 3:
            raise ConfigError(f"method.channels {method['channels']!r}: colour-space views need RGB images, and "
                              f"data.channels is {n}: name channel indices instead, such as "
                              f"0-{n // 2 - 1},{n // 2}-{n - 1}")
        top = max(max(g) for g in groups)
        if not spaces and top >= n:
            raise ConfigError(f"method.channels {method['channels']!r}: channel {top} does not exist in images of "
                              f"data.channels {n} (channels 0-{n - 1})")
    if n == 3:
        return
    if cfg["views"]["name"] not in ANY_CHANNEL_VIEWS:
        raise ConfigError(f"views.name {cfg['views']['name']}: its colour ops (jitter, grayscale) need RGB images, and "
                          f"data.channels is {n}; use --views.name crop (crop and flip, on every channel)")
    if getattr(METHODS[method["name"]], "rgb_only", False) or method["name"] == "view-learning":
        raise ConfigError(f"method {method['name']}: works on RGB images only (data.channels is {n})")


def _check_backbone(cfg: dict) -> None:
    b = cfg["backbone"]
    if b["name"].startswith(TIMM_PREFIX):
        with as_config_error():
            check_timm_model(b["name"][len(TIMM_PREFIX):])
    elif b["name"] not in BACKBONES:
        raise ConfigError(f"backbone.name: {b['name']!r} is not one of {list(BACKBONES)} or {TIMM_PREFIX}NAME")
    method = METHODS[cfg["method"]["name"]]
    if getattr(method, "requires_vit", False) and b["name"] not in VIT_SIZES:
        raise ConfigError(f"backbone.name {b['name']}: method {cfg['method']['name']} needs a ViT "
                          f"({' or '.join(VIT_SIZES)})")
    if hasattr(method, "check_hyperparameters"):  # values a method can check before anything is built
        with as_config_error():
            method.check_hyperparameters(cfg["method"])
    if b["name"] in VIT_SIZES:
        sizes = {"data.image_size": cfg["data"]["image_size"]}
        if cfg["views"]["name"] == "multicrop":
            sizes.update(zip(("views.global_size", "views.local_size"),
                             multicrop_sizes(cfg["views"], cfg["data"]["image_size"])))
        bad = {k: v for k, v in sizes.items() if v % b["patch_size"]}
        if bad:
            raise ConfigError(f"backbone.patch_size {b['patch_size']}: {b['name']} needs image sides divisible by "
                              f"it; {', '.join(f'{k} is {v}' for k, v in bad.items())}")
