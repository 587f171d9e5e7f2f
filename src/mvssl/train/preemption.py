"""Preemption: SIGTERM (a cluster's warning before it kills a job) and SIGUSR1 (SLURM's
``--signal=USR1@SECONDS``) stop a run cleanly. The signal only sets a flag; at the end of the step the
run writes the checkpoint a ``trainer.checkpoint_every`` step would have written and stops with
``Preempted``: the command line exits 143 (128 + SIGTERM), so ``mvssl train ... && mvssl eval ...``
stops there and a scheduler sees a requeueable job; the resume continues bitwise. Under several
processes the ranks agree on the flag every step (one all-reduce), so they stop at the same step."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from lightning.pytorch.callbacks import Callback

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
EXIT_CODE = 143  # 128 + SIGTERM


class Preempted(Exception):
    """A run stopped by a signal after writing a checkpoint; ``str`` is the line to print."""

    def __init__(self, run_dir: Path, signum: int, step: int, max_steps: int, rank: int = 0):
        self.run_dir, self.step, self.requeued, self.rank = run_dir, step, None, rank
        name = signal.Signals(signum).name
        super().__init__(f"{name} received: stopped at step {step}/{max_steps} with a checkpoint; resume with: "
                         f"mvssl train --resume {run_dir}")


class PreemptionCheckpoint(Callback):
    """Install the handlers while training; checkpoint and stop at the step after a signal.
    ``checkpoint`` is the run's ``ModelCheckpoint`` (its files, pruning and ``last.ckpt``)."""

    def __init__(self, checkpoint, run_dir: Path):
        self.checkpoint, self.run_dir = checkpoint, Path(run_dir)
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def on_train_start(self, trainer, pl_module) -> None:
        self.received = None
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        except ValueError:  # not the main thread: signals cannot be caught here
            self._previous = {}

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._restore()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        stop = self.received is not None
        if trainer.world_size > 1:  # every rank stops at the same step, or none does
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop or trainer.global_step >= trainer.max_steps:  # the last step: the run ends normally anyway
            return
        ckpt = self.checkpoint
        if ckpt._last_global_step_saved != trainer.global_step:  # not already this step's checkpoint
            candidates = ckpt._monitor_candidates(trainer)
            ckpt._save_topk_checkpoint(trainer, candidates)
            ckpt._save_last_checkpoint(trainer, candidates)
        signum = self.received or signal.SIGTERM
        error = Preempted(self.run_dir, signum, trainer.global_step, trainer.max_steps, trainer.global_rank)
        if signum == signal.SIGUSR1 and trainer.is_global_zero:
            error.requeued = requeue_slurm_job()
        raise error


def requeue_slurm_job() -> str | None:
    """Under SLURM, put this job back in the queue (``scontrol requeue``, as Lightning's SLURM
    environment does on its requeue signal); the job script then resumes (docs/distributed.md).
    Returns what happened, or None outside SLURM."""
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array_job else os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        code = subprocess.call(["scontrol", "requeue", job])
    except OSError as err:
        return f"could not requeue SLURM job {job}: {err}"
    return f"requeued SLURM job {job}" if code == 0 else f"scontrol requeue {job} failed (exit {code})"
