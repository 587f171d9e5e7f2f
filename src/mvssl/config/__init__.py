"""Run configuration: one declarative table per section (``schema``), strict resolution and what a
run folder records (``validate``), configs as text: ``--section.key`` options and YAML (``files``).
It imports nothing else of mvssl: ``build.resolve`` hands in the method's hyperparameters and checks
the names other layers own (methods, backbones, factors, augmentations); call that one."""
from .files import TRAINER_ALIASES, load_yaml, parse_overrides, parse_yaml
from .schema import (DATA_KEYS, DATASET_DEFAULTS, DEFAULTS, DERIVED, RESUME_EXTENDABLE, RESUME_OVERRIDABLE, SCHEMA,
                     VIEW_RECIPES, ConfigError, Key)
from .validate import (deep_update, multicrop_sizes, read_keys, refuse_keys_that_do_nothing, resolve_config,
                       written_config)
