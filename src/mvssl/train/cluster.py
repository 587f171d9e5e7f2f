"""Which process of a multi-process run writes the run folder."""
from __future__ import annotations

import os

RUN_DIR_ENV = "MVSSL_RUN_DIR"  # the run folder, handed to the processes Lightning's DDP launches


def launched_by_ddp() -> bool:
    """True in a process that Lightning's DDP launcher started (local rank > 0): it re-runs
    the same command, and must join the run folder of the process that launched it."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 and RUN_DIR_ENV in os.environ


def joins_another_process() -> bool:
    """True in a process that joins the run folder another process writes: one on another
    node (``NODE_RANK`` > 0, set by hand or by a launcher) or any but the first task that
    SLURM's ``srun`` started (``SLURM_PROCID`` > 0 of ``SLURM_NTASKS`` > 1, which Lightning's
    SLURM environment turns into the global rank). The processes Lightning's own DDP
    launcher starts are recognised by ``launched_by_ddp``."""
    if int(os.environ.get("NODE_RANK", "0") or 0) > 0:
        return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and int(os.environ.get("SLURM_PROCID", "0") or 0) > 0
