"""Keep Lightning's console output to what concerns a run: no advertising, and no warnings
that do not apply to how mvssl drives the trainer."""
from __future__ import annotations

import contextlib
import logging
import warnings

# (message pattern, category) of warnings that say nothing about an mvssl run
IGNORED_WARNINGS = (
    # IndexBatches is resumed by mvssl itself (see data/batches.py), not by Lightning
    (".*your dataloader is not resumable.*", UserWarning),
    # logging follows the global step (trainer.log_every), not the batches of one epoch
    (".*smaller than the logging interval.*", UserWarning),
    # a frozen distillation teacher is in eval mode on purpose (nn/teacher.py)
    (".*module\\(s\\) in eval mode at the start of training.*", UserWarning),
    # raised inside Lightning's own pytree helper by newer torch, nothing a user can change
    (".*isinstance\\(treespec, LeafSpec\\).*", FutureWarning),
)


# Lightning's info lines that mvssl says itself or that do not concern the run: the accelerator
# summary (mvssl's first line names the precision; "GPU available: False" on every CPU run),
# the litlogger tip, the restore lines (mvssl says which checkpoint it resumes from) and the
# max_steps stop (the progress reaches N/N)
DROPPED_LINES = ("💡 Tip", "GPU available:", "TPU available:", "HPU available:", "IPU available:",
                 "Using bfloat16 Automatic Mixed Precision", "Using 16bit Automatic Mixed Precision",
                 "`Trainer.fit` stopped:", "Restoring states from the checkpoint", "Restored all states from")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(DROPPED_LINES)


_TIPS = _DropTips()


@contextlib.contextmanager
def quiet_lightning():
    """Around building and fitting a ``lightning.Trainer``: without the lines in
    ``DROPPED_LINES`` and the warnings in ``IGNORED_WARNINGS``; every other message is kept."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    logger.addFilter(_TIPS)
    try:
        with warnings.catch_warnings():
            for message, category in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        logger.removeFilter(_TIPS)
