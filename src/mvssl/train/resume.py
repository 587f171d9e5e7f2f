"""``--resume RUN``: the config, checkpoint and starting point a resumed run continues from."""
from __future__ import annotations

import json
from pathlib import Path

from ..build import resolve
from ..config import ConfigError, deep_update, written_config
from ..config.schema import RESUME_EXTENDABLE, RESUME_OVERRIDABLE
from ..checkpoint_io import latest_complete_checkpoint, remove_partial_writes
from .relocate import ROOT_KEY, pop_root_override, relocated_root
from .run_folder import CONFIG_FILE, read_run_config, write_config


def check_resume_overrides(overrides: dict) -> None:
    """A resumed run keeps its saved config; only keys that do not change the computation
    may be overridden, and ``trainer.max_steps`` raised to extend the run."""
    for section, values in overrides.items():
        for k in values if isinstance(values, dict) else [None]:
            if (section, k) not in RESUME_OVERRIDABLE | {RESUME_EXTENDABLE}:
                allowed = sorted(f"{s}.{key}" for s, key in RESUME_OVERRIDABLE)
                raise ConfigError(f"{section if k is None else f'{section}.{k}'}: cannot be changed when resuming "
                                  f"(the run would no longer continue exactly); keys a resume may change: {allowed}, "
                                  "and trainer.max_steps may be raised to train longer")


def config_differences(a: dict, b: dict) -> list[tuple[str, str]]:
    """The (section, key) pairs whose values differ between two resolved configs."""
    return [(section, k) for section in sorted(set(a) | set(b))
            for k in sorted(set(a.get(section, {})) | set(b.get(section, {})))
            if a.get(section, {}).get(k) != b.get(section, {}).get(k)]


def check_saved_config(run_dir: Path, saved: dict, trained: dict, checkpoint: str) -> list[str]:
    """``config.yaml`` must describe the run its checkpoint trained: it may differ only in
    keys a resume may change (``RESUME_OVERRIDABLE``) and in a raised ``trainer.max_steps``
    (an extension recorded by an earlier resume). Keys the checkpoint's config does not hold
    at all were added to mvssl after it was written: they take their defaults, and their
    names are returned so the resume can say so."""
    added = []
    if saved["method"]["name"] != trained.get("method", {}).get("name"):
        raise ConfigError(f"{run_dir / CONFIG_FILE} describes a {saved['method']['name']!r} run, but {checkpoint} was "
                          f"trained with method {trained.get('method', {}).get('name')!r}: a checkpoint of another "
                          f"run; move it out of {run_dir / 'checkpoints'}, or resume the run it belongs to")
    for section, key in config_differences(saved, trained):
        now, then = saved.get(section, {}).get(key), trained.get(section, {}).get(key)
        if (section, key) in RESUME_OVERRIDABLE or (section, key) == ROOT_KEY:  # the root: relocate.py
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
    return (f"extending the run from {before} to {after} steps, from step {at_step}: the learning rate restarts "
            f"over the {after - before} added steps (a warm-up back to optim.lr, then a cosine to 0 at step {after}: "
            "a warm restart, docs/reliability.md); schedules of the method that follow trainer.max_steps (EMA "
            f"momentum, teacher temperature) are stretched to {after} steps; so the result is no longer bitwise the same "
            f"as a {after}-step run from scratch")


def finished_run(run_dir: Path, overrides: dict, echo=print) -> dict | None:
    """The metrics of a run that has trained all its steps and been evaluated (its
    ``encoder.pt``, ``metrics.json`` and ``last.ckpt``), when the resume asks for no more steps and no evaluation (an
    ``eval.*`` key), said to ``echo``; None when there is something to do."""
    rest = {k: dict(v) if isinstance(v, dict) else v for k, v in overrides.items()}
    pop_root_override(rest)
    check_resume_overrides(rest)  # a refused key is refused, finished or not
    metrics_path = run_dir / "metrics.json"
    written = [metrics_path, run_dir / "encoder.pt", run_dir / "checkpoints" / "last.ckpt"]
    if not all(p.is_file() for p in written) or "eval" in overrides:
        return None
    try:
        metrics = json.loads(metrics_path.read_text())
        saved = resolve(read_run_config(run_dir))
    except (ValueError, ConfigError):
        return None  # a damaged file: the resume path reports it
    wanted = overrides.get("trainer", {}).get("max_steps", saved["trainer"]["max_steps"])
    steps = metrics.get("steps") if isinstance(metrics, dict) else None
    if not isinstance(wanted, int) or wanted < saved["trainer"]["max_steps"]:
        return None  # prepare_resume says what is wrong with it
    if not isinstance(steps, int) or steps < wanted:
        return None
    echo(f"{run_dir} is finished: {steps} steps trained and evaluated (metrics.json), nothing to do. Train longer "
         f"with --trainer.max_steps N (N > {steps}); evaluate again with mvssl eval linear {run_dir}, or with "
         "--eval.enabled true here")
    return metrics


def prepare_resume(run_dir: Path, overrides: dict, echo) -> tuple[dict, Path | None, dict]:
    """The run's saved config (checked against its checkpoint, plus the overrides a resume
    allows), its newest complete checkpoint (None: a run killed before its first one
    trains again from step 0), and where it stands: ``{"batches_trained", "global_step",
    "log_row"}``."""
    saved_raw = read_run_config(run_dir)
    overrides = {k: dict(v) if isinstance(v, dict) else v for k, v in overrides.items()}
    new_root = pop_root_override(overrides)
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
    cfg["data"]["root"] = relocated_root(run_dir, cfg, new_root, echo)
    extension = extension_message(saved, trained, cfg, step)
    if written_config(cfg) != saved_raw:
        write_config(run_dir, cfg)
    if path is None:
        echo(f"resuming {run_dir} from step 0: it has no checkpoint yet (killed or stopped before its first one)")
    else:
        echo(f"resuming {run_dir} from {path.name} (step {step})")
    if extension:
        echo(extension)
    ends = list(state.get("lr_ends") or [trained["trainer"]["max_steps"] if trained else cfg["trainer"]["max_steps"]])
    if cfg["trainer"]["max_steps"] > ends[-1]:
        ends.append(cfg["trainer"]["max_steps"])
    return cfg, path, {"batches_trained": state["batches_trained"], "global_step": step,
                       "log_row": state.get("log_row"), "lr_ends": ends}
