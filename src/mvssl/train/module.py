"""The LightningModule that trains any method: views from a view source, the method's
loss, an online linear probe on detached features, and the step-indexed schedule. What a
checkpoint holds, so that a resumed run is exact: docs/reliability.md."""
from __future__ import annotations

import logging
import math
import random

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..nn.teacher import FrozenTeacher
from .optim import build_optimizer, replanned_lr

log = logging.getLogger(__name__)


def step_seed(seed: int, rank: int, batch: int) -> int:
    """The views' generator seed for one batch on one process: a pure function of the
    position, so a resumed run draws the same views without saving generator state."""
    return ((seed * 1_000_003 + rank) * 1_000_000_007 + batch) % 2**63


def capture_rng() -> dict:
    """Global torch / CUDA / numpy / python RNG states as tensors and plain containers
    (so the checkpoint loads with ``weights_only=True``)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, state, gauss_next = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": [version, list(state), gauss_next]}


def restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    n = rng["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, state, gauss_next = rng["python"]
    random.setstate((version, tuple(state), gauss_next))


class SSLModule(L.LightningModule):
    """A method's evolving state must be in parameters or buffers (docs/reliability.md)."""

    def __init__(self, config: dict, method: nn.Module, view_source, feature_dim: int,
                 probe_target: str | None = None, probe_classes: int = 0):
        super().__init__()
        self.config, self.method, self.view_source = config, method, view_source
        self.probe_target = probe_target
        self.lr_ends: list[int] | None = None  # the schedule's ends when extended (optim.replanned_lr)
        self.probe = nn.Linear(feature_dim, probe_classes) if probe_target else None
        self.channels_last = config["trainer"]["channels_last"]
        # what the method's forward takes beside the views (methods.base.STEP_INPUTS): CMC's memory bank
        self.forward_extras = list(getattr(method, "step_inputs", ()))
        self.view_generator: torch.Generator | None = None
        self.batches_trained = 0  # batches that reached training_step, skipped ones included
        self.skipped_steps = 0
        self.skips_in_a_row = 0
        self.unreadable: set[str] = set()  # streamed files that could not be decoded (replaced in their batch)
        # the step's detached embeddings on logging steps, for the EmbeddingMonitor callback
        self.monitor_embeddings: list[torch.Tensor] | None = None
        self._skipping = False
        # on an accelerator with on_nan stop, the loss's finiteness is kept on the device and read
        # on logging steps only (reading it every step would stall the device's stream); set in setup
        self.deferred_checks = False
        self._non_finite_seen: torch.Tensor | None = None
        self._pending_rng: dict | None = None
        self._in_batch = False  # from on_train_batch_start until the step's row is about to be logged

    # ------------------------------------------------------------------ state
    def setup(self, stage: str) -> None:
        self.view_source.to(self.device)
        self.view_generator = torch.Generator(device=self.device)
        self.deferred_checks = self.device.type != "cpu" and self.config["trainer"]["on_nan"] == "stop"

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        bad = [k for k, v in checkpoint["state_dict"].items() if v.is_floating_point() and not v.isfinite().all()]
        if bad:
            raise FloatingPointError(f"non-finite weights at step {self.global_step} ({bad[:3]}...): refusing to "
                                     "write a checkpoint; the last good one is kept")
        checkpoint["mvssl_config"] = self.config
        checkpoint["mvssl_state"] = {"batches_trained": self.batches_trained, "skipped_steps": self.skipped_steps,
                                     "skips_in_a_row": self.skips_in_a_row, "rng": capture_rng(),
                                     "unreadable": sorted(self.unreadable),
                                     "log_row": self._unlogged_row(), "lr_ends": self.lr_ends or [
                                         self.config["trainer"]["max_steps"]],
                                     "teachers": {name: m.digest() for name, m in self._frozen_teachers()}}

    def _frozen_teachers(self):
        """(name, module) of the method's frozen teachers: their weights are not in the checkpoint
        (``nn.teacher``), only their digests, checked when the run resumes."""
        return [(name, m) for name, m in self.method.named_modules() if isinstance(m, FrozenTeacher)]

    def _unlogged_row(self) -> dict | None:
        """The metrics row of this step when it is a logging step, for a checkpoint written
        during the step: Lightning logs the row only after the step's checkpoint, so a kill
        in between would lose it (``metrics_log.continue_metrics_log`` puts it back). The
        values are the ones Lightning is about to log (its logger connector's step metrics)."""
        connector = self.trainer._logger_connector
        if not self._in_batch or not connector.should_update_logs:
            return None
        values = {k: v.item() for k, v in connector.metrics["log"].items()}
        # Lightning's row: the logged values, the epoch, and the 0-based index of the batch as its step
        return {**values, "epoch": self.trainer.current_epoch, "step": self.global_step - 1}

    def on_train_batch_start(self, batch, batch_idx) -> None:
        self._in_batch = True

    def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
        self._in_batch = False  # runs after the callbacks (the checkpoint), before Lightning logs the row

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["mvssl_state"]
        self.batches_trained, self.skipped_steps = state["batches_trained"], state["skipped_steps"]
        self.skips_in_a_row = state["skips_in_a_row"]
        self.unreadable = set(state.get("unreadable", []))
        self._pending_rng = state["rng"]
        saved = state.get("teachers", {})  # checkpoints from before: the teacher's weights are in the state dict
        changed = [name for name, m in self._frozen_teachers() if name in saved and saved[name] != m.digest()]
        if changed:
            raise ValueError(f"method.teacher {self.config['method'].get('teacher')}: its weights are not those this "
                             "run trained with (the file changed since the checkpoint was written); put the original "
                             "back to resume, or start a new run")

    def on_train_start(self) -> None:
        if self._pending_rng is not None:  # as late as possible: nothing may draw after it
            restore_rng(self._pending_rng)
            self._pending_rng = None

    # ------------------------------------------------------------------ step
    def _views(self, batch: torch.Tensor | dict):
        """(views, targets, dataset indices) of an index batch (in-memory images) or of a
        streamed batch of images (``data/streaming.py``)."""
        if not isinstance(batch, dict):
            return *self.view_source(batch, self.view_generator), batch
        if batch["unreadable"]:
            if self.config["data"]["strict"]:
                raise ValueError(f"unreadable image {batch['unreadable'][0]} ({batch['reasons'][0]}); "
                                 "data.strict false skips and counts such files")
            self.unreadable.update(batch["unreadable"])
        views, targets = self.view_source.views_of(batch["images"], {"label": batch["labels"]}, self.view_generator)
        return views, targets, batch["indices"]

    def training_step(self, batch: torch.Tensor | dict, batch_idx: int) -> torch.Tensor | None:
        t = self.config["trainer"]
        self.view_generator.manual_seed(step_seed(t["seed"], self.global_rank, self.batches_trained))
        self.batches_trained += 1
        views, targets, indices = self._views(batch)
        if self.channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
        saved_buffers = self._snapshot_buffers() if t["on_nan"] == "skip" else None
        extras = {"indices": indices, "generator": self.view_generator}
        out = self.method(views, **{k: extras[k] for k in self.forward_extras})
        logging_step = (self.global_step + 1) % t["log_every"] == 0  # when Lightning logs
        if self.deferred_checks:
            self._check_finite_on_device(out.loss.detach(), logging_step)
        else:
            value = float(out.loss.detach())
            if not math.isfinite(value):
                return self._non_finite(value, saved_buffers)
        self._skipping, self.skips_in_a_row = False, 0
        loss = out.loss
        # the row's values only where Lightning writes it (every trainer.log_every steps): its bookkeeping of
        # each logged value cost more than the probe and the loss together at the default ConvNet's size
        row = self.trainer._logger_connector.should_update_logs
        logs = {"train/loss": out.loss.detach(), "train/lr": self._scheduled_lr(),
                **{f"train/{k}": v for k, v in out.logs.items()}} if row else {}
        if self.probe is not None:
            logits, y = self.probe(out.features.detach().float()), targets[self.probe_target]
            known = y >= 0  # unlabelled images (STL-10's) have label -1
            # on an accelerator the label mask is not read on the host (no sync per step)
            if not self.deferred_checks and bool(known.all()):
                probe_loss = F.cross_entropy(logits, y)
            else:  # over the labelled ones only; 0 (with a gradient of 0 for every rank) if there are none
                probe_loss = F.cross_entropy(logits, y, ignore_index=-1, reduction="sum") / known.sum().clamp(min=1)
            loss = loss + probe_loss
            if row:
                correct = (logits.argmax(1) == y) & known
                if self.deferred_checks:
                    logs["train/probe_acc"] = correct.sum() / known.sum().clamp(min=1)
                elif bool(known.any()):
                    logs["train/probe_acc"] = correct[known].float().mean()
        if out.embeddings and logging_step:
            self.monitor_embeddings = [e.detach() for e in out.embeddings[:2]]
        if row:
            logs["train/skipped_steps"] = float(self.skipped_steps)
            self.log_dict(logs, prog_bar=False, on_step=True, sync_dist=False)
        if logging_step:  # the progress bar's and lines' loss: that of the last logging step
            self.log("loss", out.loss.detach(), prog_bar=True, logger=False)
        return loss

    def _check_finite_on_device(self, loss: torch.Tensor, logging_step: bool) -> None:
        """on_nan stop on an accelerator: remember on the device whether any loss since the last
        check was non-finite, and stop on the next logging step. The weights a non-finite step
        spoils are never saved (``on_save_checkpoint`` refuses them), so the last good checkpoint
        is kept, as when the check is made every step."""
        bad = ~torch.isfinite(loss)
        self._non_finite_seen = bad if self._non_finite_seen is None else self._non_finite_seen | bad
        if logging_step:
            seen, self._non_finite_seen = bool(self._non_finite_seen), None  # the one host read
            if seen:
                raise FloatingPointError(
                    f"the {self.config['method']['name']} loss was non-finite at a step up to {self.global_step}: "
                    "training stopped; the last complete checkpoint is kept. Lower optim.lr, use trainer.precision "
                    "32, or set trainer.on_nan skip (which checks every step).")

    def _scheduled_lr(self) -> float:
        """optim.lr times the schedule's factor at this step (groups with an lr scale move with it)."""
        group = self.optimizers().param_groups[0]
        return self.config["optim"]["lr"] * group["lr"] / group.get("initial_lr", group["lr"])

    def _snapshot_buffers(self) -> dict[str, torch.Tensor]:
        return {name: b.detach().clone() for name, b in self.method.named_buffers()}

    def _non_finite(self, value: float, saved_buffers: dict[str, torch.Tensor] | None) -> None:
        t, name = self.config["trainer"], self.config["method"]["name"]
        if saved_buffers is None:
            raise FloatingPointError(
                f"the {name} loss is {value} at step {self.global_step}: training stopped; the last complete "
                "checkpoint is kept. Lower optim.lr, use trainer.precision 32, or set trainer.on_nan skip.")
        # a skipped step changes nothing: no update, and buffers (BN statistics, queues) as before
        buffers = dict(self.method.named_buffers())
        with torch.no_grad():
            for key, saved in saved_buffers.items():
                buffers[key].copy_(saved)
        self._skipping = True
        self.skipped_steps += 1
        self.skips_in_a_row += 1
        if self.skips_in_a_row >= t["max_nan_skips"]:
            raise FloatingPointError(
                f"the {name} loss was non-finite for {self.skips_in_a_row} steps in a row (trainer.max_nan_skips "
                f"{t['max_nan_skips']}), last at step {self.global_step}: training stopped; the last complete "
                "checkpoint is kept. Lower optim.lr or use trainer.precision 32.")
        log.warning(f"the {name} loss is {value} at step {self.global_step}: step skipped (trainer.on_nan skip; "
                    f"{self.skipped_steps} skipped so far, {self.skips_in_a_row} in a row)")
        self.log("train/skipped_steps", float(self.skipped_steps), on_step=True)
        return None

    def on_before_optimizer_step(self, optimizer) -> None:
        hook = getattr(self.method, "before_optimizer_step", None)
        if hook is not None:
            # a method's own gradient handling and schedules between backward and the update
            # (DINO: gradient clipping, the frozen last layer, the weight-decay schedule)
            hook(optimizer, self.global_step, self.trainer.max_steps)

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None) -> None:
        optimizer.step(closure=optimizer_closure)  # runs training_step and backward
        hook = getattr(self.method, "on_step_end", None)
        if hook is not None and not self._skipping:
            # EMA targets and schedules that live in the method, given the number of steps done
            # including this one. Here, not in on_train_batch_end: the step checkpoint is
            # written before that hook runs, and would miss this update.
            hook(self.global_step + 1, self.trainer.max_steps)

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self):
        o, t = self.config["optim"], self.config["trainer"]
        # a method may train some of its parts faster: ``lr_scales`` maps its submodule names to multipliers
        scales = {f"method.{name}": s for name, s in getattr(self.method, "lr_scales", {}).items()}
        opt = build_optimizer(self, o["name"], o["lr"], o["weight_decay"], o["momentum"], scales)
        if o["schedule"] == "constant":
            return opt
        ends = self.lr_ends or [t["max_steps"]]  # more than one: a run extended on resume (train/resume.py)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: replanned_lr(step, o["warmup_steps"], ends))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
