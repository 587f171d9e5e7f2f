"""Progress a person can read: one bar over a run's global steps (not one per epoch) with
the loss and an ETA, or with ``trainer.progress false`` a plain line every few percent of
the steps; ``progress_line`` is the same line for any long command's units of work."""
from __future__ import annotations

import math
import sys
import time

from lightning.pytorch.callbacks import Callback
from tqdm.auto import tqdm

from ..eta import progress_line
from .threads import recheck_threads


class StepProgress(Callback):
    """Replaces Lightning's per-epoch bar. ``bar`` (and the console a terminal): a tqdm bar
    over ``trainer.max_steps`` with the loss; otherwise ``lines`` plain lines over the run
    (each with the loss and an ETA), plus one whenever ``every_seconds`` have passed without
    one, so a log file gets readable lines, never ``\r`` frames, and a long run is never
    silent for long."""

    def __init__(self, bar: bool, lines: int = 20, echo=print, every_seconds: float = 60.0, stream=None):
        stream = sys.stderr if stream is None else stream
        self.bar_enabled = bar and hasattr(stream, "isatty") and stream.isatty()
        self.lines, self.echo, self.every_seconds = lines, echo, every_seconds
        self.bar, self.last, self.last_time = None, None, 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        self.total, self.first, self.started = trainer.max_steps, trainer.global_step, time.perf_counter()
        self.last_time = self.started
        self.every = max(1, math.ceil(self.total / self.lines))
        if self.bar_enabled:
            self.bar = tqdm(total=self.total, initial=self.first, desc="training", unit="step", dynamic_ncols=True,
                            file=sys.stderr)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_rank != 0:
            return
        step, loss = trainer.global_step, trainer.progress_bar_metrics.get("loss")
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if loss is not None:
                self.bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
            if step >= self.total:
                self.on_train_end(trainer, pl_module)
        elif step != self.last and (step % self.every == 0 or step == self.total
                                    or time.perf_counter() - self.last_time >= self.every_seconds):
            self.last, self.last_time = step, time.perf_counter()
            text = progress_line("step", step, self.total, time.perf_counter() - self.started, self.first)
            self.echo(text + (f", loss {float(loss):.4f}" if loss is not None else ""))

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ThreadWatch(Callback):
    """Every ``every`` seconds of training, the thread rule again with the load of now
    (``threads.recheck_threads``): a run that started on a quiet machine drops to fewer threads
    when other processes start, and takes them back when they end; each change is said in one line."""

    def __init__(self, processes: int = 1, every: float = 30.0, echo=print):
        self.processes, self.every, self.echo, self.last = processes, every, echo, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if time.perf_counter() - self.last < self.every:
            return
        self.last = time.perf_counter()
        changed = recheck_threads(self.processes)
        if changed is not None and trainer.global_rank == 0:
            self.echo(f"threads {changed[0]} -> {changed[1]} at step {trainer.global_step} (other processes on the cores)")
