"""What SimCLR's and CMC's claim experiments share (their study files include
``simclr_data.yaml``): :func:`prepare` loads the dataset once, before any run folder, so that a
missing one fails first, and refuses a batch larger than it."""
from __future__ import annotations

from ..build import build_dataset, resolve
from ..config import ConfigError

DEFAULT_SIZE = {"shapes": 16, "scattered-shapes": 32, "cifar10": 32, "cifar100": 32, "stl10": 64}


def prepare(values: dict) -> dict:
    """``size`` (the image side), ``n_images`` (training images) and ``chance`` (%) of the
    chosen data; a batch (``batch_size``, or each of ``batch_sizes``) larger than the training
    set is refused, naming the option."""
    size = values["image_size"] or DEFAULT_SIZE[values["dataset"]]
    cfg = resolve({"data": {"dataset": values["dataset"], "root": values["root"], "download": values["download"],
                            "image_size": size}, "views": {"name": "simclr"}})
    data = build_dataset(cfg)
    n = len(data)
    too_big = [b for b in values.get("batch_sizes") or [values["batch_size"]] if b > n]
    if too_big:
        raise ConfigError(f"--batch-size {too_big} is larger than the training set ({n} images of "
                          f"--dataset {values['dataset']}); choose at most {n}")
    return {"size": size, "n_images": n, "chance": 100.0 / (int(data.train_labels.max()) + 1)}
