"""The LightningModule that trains any method: views from a view source, the method's
loss, an online linear probe on detached features, and the step-indexed schedule."""
from __future__ import annotations

import inspect
import math

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from .optim import build_optimizer, warmup_cosine


class SSLModule(L.LightningModule):
    def __init__(self, config: dict, method: nn.Module, view_source, feature_dim: int,
                 probe_target: str | None = None, probe_classes: int = 0):
        super().__init__()
        self.config, self.method, self.view_source = config, method, view_source
        self.probe_target = probe_target
        self.probe = nn.Linear(feature_dim, probe_classes) if probe_target else None
        self.channels_last = config["trainer"]["channels_last"]
        # methods that need them (CMC's memory bank) declare ``indices`` / ``generator`` in forward
        self.forward_extras = [k for k in ("indices", "generator") if k in inspect.signature(method.forward).parameters]
        self.view_generator: torch.Generator | None = None
        self._pending_generator_state: torch.Tensor | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, stage: str) -> None:
        self.view_source.to(self.device)
        rank = self.global_rank
        self.view_generator = torch.Generator(device=self.device)
        self.view_generator.manual_seed(self.config["trainer"]["seed"] * 1000 + rank)
        if self._pending_generator_state is not None:
            self.view_generator.set_state(self._pending_generator_state)
            self._pending_generator_state = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["mvssl_config"] = self.config
        checkpoint["view_generator_state"] = self.view_generator.get_state()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("view_generator_state")
        if state is not None:
            if self.view_generator is None:
                self._pending_generator_state = state
            else:
                self.view_generator.set_state(state)

    # ------------------------------------------------------------------ step
    def training_step(self, indices: torch.Tensor, batch_idx: int) -> torch.Tensor:
        views, targets = self.view_source(indices, self.view_generator)
        if self.channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        extras = {"indices": indices, "generator": self.view_generator}
        out = self.method(views, **{k: extras[k] for k in self.forward_extras})
        loss = out.loss
        logs = {"train/loss": out.loss.detach(), **{f"train/{k}": v for k, v in out.logs.items()}}
        if self.probe is not None:
            logits = self.probe(out.features.detach().float())
            probe_loss = F.cross_entropy(logits, targets[self.probe_target])
            loss = loss + probe_loss
            logs["train/probe_acc"] = (logits.argmax(1) == targets[self.probe_target]).float().mean()
        if not math.isfinite(float(out.loss.detach())):
            raise FloatingPointError(
                f"the {self.config['method']['name']} loss is {float(out.loss)} at step {self.global_step}: "
                "training stopped; the last complete checkpoint is kept. Lower optim.lr or use "
                "trainer.precision 32.")
        self.log_dict(logs, prog_bar=False, on_step=True, sync_dist=False)
        self.log("loss", out.loss.detach(), prog_bar=True, logger=False)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        hook = getattr(self.method, "on_step_end", None)
        if hook is not None:  # EMA targets, schedules that live in the method
            hook(self.global_step, self.trainer.max_steps)

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self):
        o, t = self.config["optim"], self.config["trainer"]
        opt = build_optimizer(self, o["name"], o["lr"], o["weight_decay"], o["momentum"])
        if o["schedule"] == "constant":
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, o["warmup_steps"], t["max_steps"]))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
