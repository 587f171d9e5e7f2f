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
    # raised inside Lightning's own pytree helper by newer torch, nothing a user can change
    (".*isinstance\\(treespec, LeafSpec\\).*", FutureWarning),
)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


_TIPS = _DropTips()


@contextlib.contextmanager
def quiet_lightning():
    """Around building and fitting a ``lightning.Trainer``: without Lightning's litlogger tip
    and the warnings in ``IGNORED_WARNINGS``; every other message is kept."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    logger.addFilter(_TIPS)
    try:
        with warnings.catch_warnings():
            for message, category in IGNORED_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        logger.removeFilter(_TIPS)
