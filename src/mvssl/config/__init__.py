"""Run configuration: typed sections with defaults (``schema``), strict validation and what a
run folder records (``validate``), configs as text: ``--section.key`` options and YAML (``files``).

Every value a run uses is in the resolved config saved in the run folder; unknown keys,
wrong types and bad values fail before training starts, naming the key. This package
imports nothing else of mvssl: the ``method`` section is the chosen method's hyperparameters,
handed in, and the names other layers own (methods, backbones, shared factors, augmentations)
are checked by ``build.resolve``, the one to call for a whole config.
"""
from .files import TRAINER_ALIASES, load_yaml, parse_overrides, parse_yaml
from .validate import (check_batch_fits, check_resume_overrides, config_differences, deep_update, describe_data,
                      multicrop_sizes, resolve_config, written_config)
from .schema import (DATA_KEYS, DATASET_DEFAULTS, DEFAULTS, DERIVED, RESUME_EXTENDABLE, RESUME_OVERRIDABLE, SECTIONS,
                     VIEW_RECIPES, ConfigError)

__all__ = ["ConfigError", "DEFAULTS", "DATASET_DEFAULTS", "DERIVED", "DATA_KEYS", "SECTIONS", "VIEW_RECIPES",
           "RESUME_EXTENDABLE", "RESUME_OVERRIDABLE", "resolve_config", "written_config", "describe_data",
           "multicrop_sizes", "check_batch_fits", "check_resume_overrides", "config_differences", "deep_update",
           "TRAINER_ALIASES", "parse_overrides", "parse_yaml", "load_yaml"]


def __getattr__(name: str):
    if name == "resolve":  # it needs the methods' hyperparameters, which this package does not import
        raise ImportError("mvssl.config.resolve is now mvssl.build.resolve (mvssl.config imports nothing else of mvssl)")
    raise AttributeError(f"module 'mvssl.config' has no attribute {name!r}")
