"""A new run's config and its training module, built the same way by ``train`` (one run) and
``train_seeds`` (several seeds in one model), so each seed starts as its own run would."""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import ConfigError
from ..build import build_method, build_view_source, resolve
from ..data.datasets import LabelledImages
from ..data.files import FileSplits
from ..nn import convert_to_global_batchnorm
from .compile_rule import resolve_compile, use_compile_cache
from .finish import report_skipped
from .init import check_architecture, with_initial_weights
from .module import SSLModule
from .relocate import resolved_root


def new_run_config(user_config: dict | None):
    """The resolved config of a new run and the weights it starts from (None: random init)."""
    user, initial = with_initial_weights(user_config)
    cfg = resolve(user)
    check_architecture(cfg, initial)
    if cfg["method"].get("teacher"):  # distill: the teacher file wherever the run is resumed from
        cfg["method"]["teacher"] = str(Path(cfg["method"]["teacher"]).expanduser().resolve())
    cfg["data"]["root"] = resolved_root(cfg)  # the run can be resumed from anywhere
    return cfg, initial


def training_module(cfg: dict, dataset, echo, initial=None) -> tuple[SSLModule, int]:
    """The method on its views, wrapped for Lightning, and the number of classes its online
    probe reads (0: an unlabelled folder has no probe)."""
    t = cfg["trainer"]
    check_batch_fits(cfg, len(dataset))
    report_skipped(list(getattr(dataset, "skipped", [])), "", echo)
    source = build_view_source(cfg, dataset)
    method, dim = build_method(cfg, num_samples=len(dataset), initial=initial)
    if t["sync_batchnorm"]:  # also on CPU, where torch.nn.SyncBatchNorm does not run
        method = convert_to_global_batchnorm(method)
    if t["channels_last"]:
        method = method.to(memory_format=torch.channels_last)
    if isinstance(dataset, (LabelledImages, FileSplits)):  # an unlabelled folder (< 2 classes) has no probe
        probe_target, probe_classes = ("label", len(dataset.classes)) if len(dataset.classes) >= 2 else (None, 0)
    else:
        probe_target, probe_classes = "digit", 10
    module = SSLModule(cfg, method, source, dim, probe_target=probe_target, probe_classes=probe_classes)
    compiled, module.compile_note = resolve_compile(t["compile"], cfg["backbone"]["name"], t["accelerator"],
                                                    t["max_steps"])
    if compiled:
        use_compile_cache()  # inductor's graphs kept between runs (train/compile_rule.py)
        # in place (nn.Module.compile): checkpoint keys stay "method.backbone...", not "method._orig_mod..."
        module.method.compile()
    return module, probe_classes


def check_batch_fits(cfg: dict, num_items: int) -> None:
    """The one check that needs the dataset: a full batch must fit in it."""
    if cfg["optim"]["batch_size"] > num_items:
        raise ConfigError(f"optim.batch_size ({cfg['optim']['batch_size']}) is larger than the training set "
                          f"({num_items} images of data.dataset {cfg['data']['dataset']!r}); choose at most "
                          f"{num_items}")
