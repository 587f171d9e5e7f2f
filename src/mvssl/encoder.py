"""A trained backbone you can load and embed with: ``mvssl.load(path).embed(images)``."""
from __future__ import annotations

import errno
import functools
import numbers
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .build import (build_encoder_backbone, build_encoder_heads, build_projector, encoder_attribute, encoder_state,
                    preprocessing)
from .checkpoint_io import CorruptCheckpointError, UnsafeCheckpointError, save_atomic
from .data.decode import centre_square
from .image_inputs import as_image_batch
from .nn.backbones import spatial_features
from .methods.looc import embed_spaces
from .weights import Weights, WeightsError, read_weights

ENCODER_FILE = "encoder.pt"


REPRESENTATIONS = ("backbone", "looc", "looc++", "projection")


class Encoder(nn.Module):
    """A frozen backbone plus the preprocessing it was trained with (``preprocess``): ``embed`` gives
    features, ``backbone`` is a plain ``nn.Module`` to take downstream. An encoder trained with LooC also
    keeps its n + 1 projection ``heads``: ``representation="looc++"`` concatenates the L2-normalised
    embedding spaces [N, (n + 1) d]; the default (``"backbone"``, alias ``"looc"``) is the backbone feature V."""

    def __init__(self, backbone: nn.Module, image_size: int, mean, std, config: dict | None = None,
                 heads: nn.ModuleList | None = None, projector: nn.Module | None = None):
        super().__init__()
        self.backbone, self.image_size, self.heads, self.projector = backbone, image_size, heads, projector
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[:, None, None], persistent=False)
        self.config = config or {}

    @classmethod
    def from_config(cls, config: dict) -> "Encoder":
        backbone = build_encoder_backbone(config)
        pre = preprocessing(config)
        return cls(backbone, pre["image_size"], pre["mean"], pre["std"], config, build_encoder_heads(config))

    def load_method_weights(self, method: nn.Module) -> None:
        """Copy the trained weights a run keeps: ``method.backbone`` (I-JEPA: ``method.target_backbone``,
        ``build.encoder_attribute``) and LooC's ``method.projectors``."""
        self.backbone.load_state_dict(getattr(method, encoder_attribute(self.config)).state_dict())
        if self.heads is not None:
            self.heads.load_state_dict(method.projectors.state_dict())
        projector = getattr(method, "projector", None)
        if isinstance(projector, nn.Module):  # embed(..., representation="projection")
            self.projector = build_projector(self.config, projector.state_dict())

    def _representation_fn(self, representation: str):
        if representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {list(REPRESENTATIONS)}, got {representation!r}")
        if representation == "projection":
            if self.projector is None:
                raise ValueError(f"representation 'projection' needs the projection head, which this encoder does not "
                                 f"keep (method {self.config.get('method', {}).get('name')!r} has no projector, or the "
                                 "encoder was saved by an earlier mvssl)")
            return lambda x: self.projector(self.backbone(x))
        if representation != "looc++":
            return self.backbone
        if self.heads is None:
            raise ValueError("representation 'looc++' needs an encoder trained with --method looc (this one has no "
                             f"embedding heads; method {self.config.get('method', {}).get('name')!r})")
        return lambda x: embed_spaces(self.heads, self.backbone(x))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, H, W] -> the float [N, 3, S, S] the backbone was trained on: the centred
        square of a non-square image (as the folder loader keeps it), resized to ``image_size``
        (antialiased bilinear) and normalised with the training mean and std. Use it to feed
        ``backbone`` yourself, e.g. when fine-tuning downstream."""
        images = as_image_batch(images, self.image_size, len(self.mean))
        top, left, side = centre_square(*images.shape[-2:])
        x = images[..., top:top + side, left:left + side].to(self.mean.device).float() / 255.0
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def embed(self, images, batch_size: int = 500, representation: str = "backbone",
              tokens: bool = False) -> torch.Tensor:
        """Images (anything ``image_inputs`` lists) -> float features [N, D]; N may be 0. ``representation``:
        ``"backbone"`` (what a probe reads), ``"projection"`` (the projection head's output, for methods with
        one) or ``"looc++"``. ``tokens=True``: the backbone's dense features, a ViT's patch tokens [N, L, D]
        (row-major, no class token) or a convnet's last feature map [N, C, h, w] (``spatial_features``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        images = as_image_batch(images, self.image_size, len(self.mean))
        if tokens and representation != "backbone":
            raise ValueError(f"tokens=True gives the backbone's dense features; representation {representation!r} is "
                             "one vector per image")
        network = functools.partial(spatial_features, self.backbone) if tokens else self._representation_fn(
            representation)
        was_training = self.training
        self.eval()
        try:
            # an empty input still goes through the network once, so the result is [0, D]
            out = [network(self.preprocess(images[i:i + batch_size])).float().cpu()
                   for i in range(0, max(len(images), 1), batch_size)]
        finally:
            self.train(was_training)
        return torch.cat(out)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)

    def save(self, path: str | Path) -> None:
        state = {"format": "mvssl-encoder", "config": self.config, "state_dict": self.backbone.state_dict()}
        if self.heads is not None:
            state["heads_state_dict"] = self.heads.state_dict()
        if self.projector is not None:
            state["projector_state_dict"] = self.projector.state_dict()
        save_atomic(state, path)


def load(path: str | Path) -> Encoder:
    """Load an Encoder from a run folder, an ``encoder.pt``, a training checkpoint or an
    ``mvssl export --format safetensors`` file (read by ``weights.read_weights``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "no such run folder, encoder.pt or checkpoint", str(path))
    if path.is_dir() and not any((path / name).is_file() for name in (ENCODER_FILE, "checkpoints/last.ckpt")):
        raise FileNotFoundError(f"{path} holds no {ENCODER_FILE} or checkpoints/last.ckpt")
    try:
        weights = read_weights(path)
    except (UnsafeCheckpointError, CorruptCheckpointError):  # their own types, as mvssl.load's callers expect
        raise
    except WeightsError as err:
        raise ValueError(str(err)) from None
    config, backbone, heads, projector = _encoder_parts(weights)
    try:
        enc = Encoder.from_config(config)
        enc.backbone.load_state_dict(backbone)
        if enc.heads is not None:
            if not heads:
                raise ValueError("it is a LooC encoder without its embedding heads")
            enc.heads.load_state_dict(heads)
        if projector:
            enc.projector = build_projector(config, projector)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is not a usable mvssl encoder: its weights do not fit the architecture its "
                         f"config describes ({first})") from err
    return enc.eval()


def _encoder_parts(weights: Weights) -> tuple[dict, dict, dict | None, dict | None]:
    """(config, backbone weights, LooC heads, projector) of an mvssl encoder or training
    checkpoint (its backbone: the one the run keeps, ``build.encoder_attribute``); ``ValueError``
    naming what is missing for anything else."""
    path, config = weights.path, weights.config
    if weights.kind == "safetensors":
        raise ValueError(f"{path} is a safetensors file without an mvssl encoder's config in its metadata (not written "
                         "by mvssl export --format safetensors); to train from it use --backbone.weights")
    if weights.kind == "state-dict":
        raise ValueError(f"{path} is not an mvssl encoder or training checkpoint (it has neither format "
                         f"'mvssl-encoder' nor mvssl_config and state_dict; keys: {sorted(weights.tensors)[:8]})")
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in ("method", "data", "backbone")):
        raise ValueError(f"{path} is not a usable mvssl encoder: it has no config with method, data and backbone "
                         "sections")
    backbone = encoder_state(weights)
    if not backbone:
        raise ValueError(f"{path} is not a usable mvssl encoder: it holds no backbone weights")
    return config, backbone, encoder_state(weights, "heads"), encoder_state(weights, "projector")
