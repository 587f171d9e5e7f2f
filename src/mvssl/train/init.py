"""Where a new run's weights come from: ``backbone.weights FILE`` (any state dict that fits the backbone)
or ``--init-from RUN`` (continue pretraining on new data: the run's backbone and the method tensors that
match). Both are read and checked before a run folder exists and recorded in ``weights-origin.json``.
Neither is ``--resume``, which continues one run exactly."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import ConfigError, as_config_error, deep_update
from ..weights import Weights, WeightsError, describe, file_sha256, fit_state_dict, read_weights
from ..build import build_backbone_from, encoder_state

ORIGIN_FILE = "weights-origin.json"
ARCHITECTURE = ("name", "width", "cifar_stem", "patch_size")


def _section(user: dict, name: str) -> dict:
    value = user.get(name)
    return value if isinstance(value, dict) else {}


def with_initial_weights(user: dict | None) -> tuple[dict, Weights | None]:
    """The user's config with the weight paths resolved, and the weights read from them (None
    without). ``--init-from RUN`` also takes RUN's backbone section, and its method section
    unless another method is named, as defaults under the user's keys: same architecture, new data."""
    user = dict(user or {})
    source = _section(user, "trainer").get("init_from")
    weights_file = _section(user, "backbone").get("weights")
    if source is not None and weights_file is not None:
        raise ConfigError("--init-from and backbone.weights both say where the weights come from: give one")
    if weights_file is not None:
        weights = _read(weights_file, "backbone.weights")
        return deep_update(user, {"backbone": {"weights": str(weights.path.resolve())}}), weights
    if source is None:
        return user, None
    path = Path(str(source)).expanduser()
    if path.is_dir() and (path / "config.yaml").is_file() and not (path / "metrics.json").is_file():
        raise ConfigError(f"--init-from {source}: this run has not finished (no metrics.json). To continue it, use "
                          f"mvssl train --resume {source}; to start a new run from its weights as they are now, give "
                          f"its checkpoint: --init-from {path / 'checkpoints' / 'last.ckpt'}")
    weights = _read(source, "--init-from", prefer_checkpoint=True)
    if not isinstance(weights.config, dict) or not isinstance(weights.config.get("backbone"), dict):
        raise ConfigError(f"--init-from {source}: not an mvssl run, encoder.pt or checkpoint (it has no mvssl config); "
                          "to start from another library's weights use --backbone.weights FILE")
    trained = weights.config
    defaults = {"backbone": {k: v for k, v in trained["backbone"].items() if k != "weights"}}
    asked = _section(user, "method").get("name", user.get("method") if isinstance(user.get("method"), str) else None)
    if asked is None or asked == trained["method"].get("name"):
        defaults["method"] = dict(trained["method"])
    elif weights.kind == "mvssl-checkpoint":  # another method starts from the encoder RUN kept (I-JEPA: its target)
        weights.tensors = encoder_state(weights)
    if isinstance(user.get("method"), str):
        user["method"] = {"name": user["method"]}
    user = deep_update(defaults, user)
    user = deep_update(user, {"trainer": {"init_from": str(path.resolve())}})
    return user, weights


def _read(path, option: str, prefer_checkpoint: bool = False) -> Weights:
    with as_config_error(f"{option} {path}: ", WeightsError):
        return read_weights(path, prefer_checkpoint=prefer_checkpoint)


def check_architecture(cfg: dict, weights: Weights | None) -> None:
    """``--init-from``: the new run's backbone is the source run's (its weights must fit)."""
    if weights is None or cfg["trainer"]["init_from"] is None:
        return
    trained = weights.config["backbone"]
    diff = [f"backbone.{k} {cfg['backbone'][k]!r} here, {trained.get(k)!r} in the run" for k in ARCHITECTURE
            if k in trained and cfg["backbone"][k] != trained[k]]
    if diff:
        raise ConfigError(f"--init-from {cfg['trainer']['init_from']}: continuing pretraining keeps the architecture: "
                          + "; ".join(diff))
    # the weights must fit before a run folder is made
    with as_config_error(f"--init-from {cfg['trainer']['init_from']}: {weights.path}: ", WeightsError):
        fit_state_dict(weights.tensors, build_backbone_from(cfg)[0], f"backbone {cfg['backbone']['name']}")


def record_origin(run_dir: Path, cfg: dict, weights: Weights, method, echo=print) -> dict:
    """``RUN/weights-origin.json``: the file the run started from (path, SHA-256, kind), how its
    keys were fitted, and for ``--init-from`` which method parts carried over or were redrawn
    (``method_state_in_file`` false: an encoder file, only its backbone was there to carry)."""
    fit, carried = getattr(method, "initial_fit", None), getattr(method, "carried_state", None)
    origin = {"option": "--init-from" if cfg["trainer"]["init_from"] else "backbone.weights",
              "source": cfg["trainer"]["init_from"] or cfg["backbone"]["weights"], "file": str(weights.path.resolve()),
              "sha256": file_sha256(weights.path), "kind": weights.kind, "tensors": len(weights.tensors),
              "prefix_stripped": fit.prefix if fit else "", "head_dropped": fit.dropped if fit else []}
    if carried is not None:
        origin.update(carried, method_state_in_file=bool(weights.method_state))
    (run_dir / ORIGIN_FILE).write_text(json.dumps(origin, indent=2))
    echo(f"weights: {describe(weights, fit) if fit is not None else weights.path}"
         + (f"; method parts carried over: {', '.join(carried['carried']) or 'none'}"
            f"{'' if weights.method_state else ' (the file holds the backbone only)'}, redrawn: "
            f"{', '.join(carried['redrawn']) or 'none'}" if carried is not None else ""))
    return origin
