"""``--resume RUN``: the config, checkpoint and starting point a resumed run continues from."""
from __future__ import annotations

from pathlib import Path

from ..build import resolve
from ..config import (RESUME_EXTENDABLE, RESUME_OVERRIDABLE, ConfigError, check_resume_overrides,
                      config_differences, deep_update, written_config)
from ..checkpoint_io import latest_complete_checkpoint, remove_partial_writes
from .run_folder import CONFIG_FILE, read_run_config, write_config


def check_saved_config(run_dir: Path, saved: dict, trained: dict, checkpoint: str) -> list[str]:
    """``config.yaml`` must describe the run its checkpoint trained: it may differ only in
    keys a resume may change (``RESUME_OVERRIDABLE``) and in a raised ``trainer.max_steps``
    (an extension recorded by an earlier resume). Keys the checkpoint's config does not hold
    at all were added to mvssl after it was written: they take their defaults, and their
    names are returned so the resume can say so."""
    added = []
    for section, key in config_differences(saved, trained):
        now, then = saved.get(section, {}).get(key), trained.get(section, {}).get(key)
        if (section, key) in RESUME_OVERRIDABLE:
            continue
        if key not in trained.get(section, {}):
            added.append(f"{section}.{key}")
            continue
        if (section, key) == RESUME_EXTENDABLE and isinstance(now, int) and isinstance(then, int) and now > then:
            continue
        raise ConfigError(f"{run_dir / CONFIG_FILE}: {section}.{key} is {now!r}, but {checkpoint} was trained with "
                          f"{then!r}; a resumed run keeps the config it was trained with: put it back, or start a "
                          "new run for the new value")
    return added


def extension_message(saved: dict, trained: dict | None, cfg: dict, at_step: int) -> str | None:
    """The message for a run that continues with more ``trainer.max_steps`` than its
    checkpoint was trained for (None otherwise); ``ConfigError`` for fewer than saved."""
    saved_steps, after = saved["trainer"]["max_steps"], cfg["trainer"]["max_steps"]
    if after < saved_steps:
        raise ConfigError(f"trainer.max_steps: a resume can extend a run (above its {saved_steps} steps), not "
                          f"shorten it (got {after})")
    before = trained["trainer"]["max_steps"] if trained is not None else saved_steps
    if after == before or at_step == 0:
        return None
    return (f"extending the run from {before} to {after} steps, from step {at_step}: the learning-rate schedule (and "
            f"any schedule of the method that follows trainer.max_steps) is stretched to {after} steps from here on, "
            f"so the result is no longer bitwise the same as a {after}-step run from scratch")


def prepare_resume(run_dir: Path, overrides: dict, echo) -> tuple[dict, Path | None, dict]:
    """The run's saved config (checked against its checkpoint, plus the overrides a resume
    allows), its newest complete checkpoint (None: a run killed before its first one
    trains again from step 0), and where it stands: ``{"batches_trained", "global_step",
    "log_row"}``."""
    saved_raw = read_run_config(run_dir)
    check_resume_overrides(overrides)
    saved = resolve(saved_raw)
    found = latest_complete_checkpoint(run_dir, echo)
    remove_partial_writes(run_dir)
    if found is None:
        path, step, state, trained = None, 0, {"batches_trained": 0}, None
    else:
        path, checkpoint = found
        trained = checkpoint["mvssl_config"]
        added = check_saved_config(run_dir, saved, trained, path.name)
        if added:
            echo(f"{path.name} was written by an earlier mvssl: {', '.join(added)} take their defaults "
                 "(keys added since); the resumed steps run today's code")
        step, state = checkpoint["global_step"], checkpoint["mvssl_state"]
    cfg = resolve(deep_update(saved, overrides))
    extension = extension_message(saved, trained, cfg, step)
    if written_config(cfg) != saved_raw:
        write_config(run_dir, cfg)
    if path is None:
        echo(f"resuming {run_dir} from step 0: it has no checkpoint yet (killed or stopped before its first one)")
    else:
        echo(f"resuming {run_dir} from {path.name} (step {step})")
    if extension:
        echo(extension)
    return cfg, path, {"batches_trained": state["batches_trained"], "global_step": step,
                       "log_row": state.get("log_row")}
