"""Weights from disk for a backbone (``backbone.weights``, ``--init-from``, a distillation teacher): a
torchvision, timm or Hugging Face state dict, a ``.safetensors`` file, or an mvssl run, encoder,
checkpoint or safetensors export (these carry their config; ``mvssl.load`` reads them here too). Files
are read without running code (``weights_only=True`` or safetensors); keys are fitted to the backbone
(a wrapper prefix found by key endings, a classifier head dropped), and anything else that does not fit
refuses the file in one line (docs/domain.md). A leaf: it imports nothing of mvssl but ``checkpoint_io``."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoint_io import CorruptCheckpointError, UnsafeCheckpointError, safe_torch_load

# the first name of a classifier head in torchvision, timm and Hugging Face models
HEAD_NAMES = ("fc", "head", "heads", "head_dist", "classifier", "last_linear", "logits", "pre_logits")
HF_FILES = ("model.safetensors", "pytorch_model.bin")
# wrappers around a state dict in files that training scripts write
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net", "teacher", "student")
IGNORED_MISSING = ("num_batches_tracked",)  # BatchNorm's step counter: not saved by every library, never used in eval


class WeightsError(ValueError):
    """A weight file that cannot be read, or does not fit the backbone (one line)."""


class UnsafeWeightsError(WeightsError, UnsafeCheckpointError):
    """A weight file the safe loader refused: it would import Python objects (one line)."""


class CorruptWeightsError(WeightsError, CorruptCheckpointError):
    """A weight file that failed its content checksum (one line)."""


@dataclass
class Weights:
    """Tensors read from ``path``; ``config`` is the mvssl config when the file is an mvssl
    run, encoder or checkpoint (``method_state`` then holds its whole method, if a checkpoint;
    ``parts`` an encoder's other state dicts: LooC's ``heads``, the ``projector``)."""
    path: Path
    tensors: dict[str, torch.Tensor]
    kind: str  # "mvssl-encoder", "mvssl-checkpoint", "safetensors", "state-dict"
    config: dict | None = None
    method_state: dict[str, torch.Tensor] = field(default_factory=dict)
    parts: dict[str, dict] = field(default_factory=dict)


def find_weight_file(path: str | Path, prefer_checkpoint: bool = False) -> Path:
    """The file behind ``path``: itself, or in a folder an mvssl run's ``encoder.pt`` (else its
    ``checkpoints/last.ckpt``; the other way round with ``prefer_checkpoint``, which keeps the
    whole method) or a Hugging Face layout's ``model.safetensors`` / ``pytorch_model.bin``."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: no such weight file or run folder")
    if not path.is_dir():
        return path
    run_files = ("encoder.pt", "checkpoints/last.ckpt")
    for name in (*(run_files[::-1] if prefer_checkpoint else run_files), *HF_FILES):
        if (path / name).is_file():
            return path / name
    raise WeightsError(f"{path}: a folder without encoder.pt, checkpoints/last.ckpt or {' or '.join(HF_FILES)}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_weights(path: str | Path, prefer_checkpoint: bool = False) -> Weights:
    """The tensors of a weight file or run folder (see the module docstring), read safely."""
    file = find_weight_file(path, prefer_checkpoint)
    if file.suffix == ".safetensors":
        tensors, metadata = _read_safetensors(file)
        if metadata.get("format") == "mvssl-encoder" and "config" in metadata:  # written by mvssl export
            return Weights(file, tensors, "mvssl-encoder", json.loads(metadata["config"]))
        return Weights(file, tensors, "safetensors")
    try:
        state = safe_torch_load(file)
    except UnsafeCheckpointError as err:  # would import Python objects: one line, nothing run
        raise UnsafeWeightsError(str(err).splitlines()[0]) from None
    except CorruptCheckpointError as err:  # failed its checksum: one line
        raise CorruptWeightsError(str(err).splitlines()[0]) from None
    except ValueError as err:  # otherwise damaged: one line
        raise WeightsError(str(err).splitlines()[0]) from None
    if isinstance(state, dict) and state.get("format") == "mvssl-encoder":
        parts = {part: state[f"{part}_state_dict"] for part in ("heads", "projector") if f"{part}_state_dict" in state}
        return Weights(file, _only_tensors(file, state.get("state_dict")), "mvssl-encoder", state.get("config"),
                       parts=parts)
    if isinstance(state, dict) and "mvssl_config" in state and isinstance(state.get("state_dict"), dict):
        method = {k.removeprefix("method."): v for k, v in state["state_dict"].items() if k.startswith("method.")}
        backbone = {k.removeprefix("backbone."): v for k, v in method.items() if k.startswith("backbone.")}
        return Weights(file, _only_tensors(file, backbone), "mvssl-checkpoint", state["mvssl_config"], method)
    while isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    return Weights(file, _only_tensors(file, state), "state-dict")


def _read_safetensors(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A ``.safetensors`` file's tensors and metadata, or ``WeightsError`` in one line."""
    try:
        from safetensors import safe_open
        from safetensors.torch import load_file
    except ImportError:
        raise WeightsError(f"{file}: reading .safetensors needs the safetensors package "
                           "(pip install safetensors)") from None
    try:
        with safe_open(str(file), "pt") as f:
            metadata = f.metadata() or {}
        return _only_tensors(file, load_file(str(file), device="cpu")), metadata
    except WeightsError:
        raise
    except Exception as err:  # noqa: BLE001 - any parse failure means "not a safetensors file"
        raise WeightsError(f"{file} is not a readable safetensors file ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None


def _only_tensors(file: Path, state) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict) or not state:
        held = "an empty dict" if state == {} else "a " + type(state).__name__
        raise WeightsError(f"{file} is not an mvssl encoder or weight file: it holds {held}, not a state dict of tensors")
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{file} holds no tensors (keys: {sorted(map(str, state))[:6]})")
    return tensors


def _shape(t: torch.Tensor) -> str:
    return "[" + ",".join(map(str, t.shape)) + "]"


def _listing(items: list[str], most: int = 6) -> str:
    return ", ".join(items[:most]) + (f", ... ({len(items) - most} more)" if len(items) > most else "")


def best_prefix(source: list[str], target: set[str]) -> str:
    """The prefix p (``""`` or ending in ``.``) for which the most keys ``p + t`` of ``source``
    end in a key ``t`` of ``target``; the shortest among equals."""
    counts: Counter[str] = Counter()
    for key in source:
        cut = 0
        while True:
            if key[cut:] in target:
                counts[key[:cut]] += 1
            cut = key.find(".", cut) + 1
            if cut == 0:
                break
    if not counts:
        return ""
    return min(counts, key=lambda p: (-counts[p], len(p)))


@dataclass
class Fitted:
    state_dict: dict[str, torch.Tensor]
    prefix: str
    dropped: list[str]  # classifier-head keys the backbone does not have


def fit_state_dict(tensors: dict[str, torch.Tensor], module: nn.Module, what: str) -> Fitted:
    """``tensors`` renamed to ``module``'s keys: the wrapper prefix stripped and a classifier
    head dropped; ``WeightsError`` in one line listing what still does not fit."""
    expected = module.state_dict()
    prefix = best_prefix(list(tensors), set(expected))
    fitted, dropped, unexpected = {}, [], []
    for key, value in tensors.items():
        name = key[len(prefix):] if key.startswith(prefix) else None
        if name is not None and name in expected:
            fitted[name] = value
        elif any(part in HEAD_NAMES for part in key.split(".")[:-1][-2:]):  # a classifier head: model.head.fc.weight
            dropped.append(key)
        else:
            unexpected.append(f"{key} {_shape(value)}")
    missing = [f"{k} {_shape(v)}" for k, v in expected.items()
               if k not in fitted and k.rsplit(".", 1)[-1] not in IGNORED_MISSING]
    shapes = [f"{k}: file {_shape(v)} vs backbone {_shape(expected[k])}" for k, v in fitted.items()
              if v.shape != expected[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing ({_listing(missing)})" if missing else "",
                 f"{len(unexpected)} unexpected ({_listing(unexpected)})" if unexpected else "",
                 f"{len(shapes)} of another shape ({_listing(shapes)})" if shapes else ""]
        stripped = f" after stripping prefix {prefix!r}" if prefix else ""
        raise WeightsError(f"does not fit {what}{stripped}: " + "; ".join(p for p in parts if p))
    return Fitted(fitted, prefix, dropped)


def load_into(module: nn.Module, weights: Weights, what: str) -> Fitted:
    """Copy ``weights`` into ``module`` (fitted as ``fit_state_dict``); ``WeightsError``,
    naming the file, if they do not fit."""
    try:
        fitted = fit_state_dict(weights.tensors, module, what)
    except WeightsError as err:
        raise WeightsError(f"{weights.path}: {err}") from None
    module.load_state_dict(fitted.state_dict, strict=False)  # strict=False: only the ignored BN counters may lack
    return fitted


def describe(weights: Weights, fitted: Fitted) -> str:
    """One line for the log: what was loaded from where."""
    extra = [f"prefix {fitted.prefix!r} stripped" if fitted.prefix else "",
             f"{len(fitted.dropped)} classifier-head tensor(s) dropped" if fitted.dropped else ""]
    extra = [e for e in extra if e]
    return (f"{len(fitted.state_dict)} tensors from {weights.path} ({weights.kind})"
            + (f"; {', '.join(extra)}" if extra else ""))
