"""``logs/metrics.csv`` that survives kills and resumes: each logged step exactly once. Lightning's CSV
writer deletes an existing file when it opens it; ``MetricsLogger`` keeps it and rewrites it atomically.
A resumed run cuts the log back to the steps its checkpoint trained and adds the checkpoint's own row:
Lightning logs a step's row right *after* its checkpoint, so a kill in between would lose it."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from ..checkpoint_io import write_text_atomic

METRICS_FILE = Path("logs") / "metrics.csv"


class _KeepingWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:
        """Lightning deletes the old metrics.csv here; mvssl continues it (``continue_metrics_log``)."""

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as f:
            rows = list(csv.DictReader(f))
        write_rows_atomic(Path(self.metrics_file_path), fieldnames, rows)


class MetricsLogger(CSVLogger):
    """Lightning's CSVLogger writing ``RUN/logs/metrics.csv`` through ``_KeepingWriter``."""

    def __init__(self, run_dir: Path):
        super().__init__(run_dir, name="logs", version="")

    @property
    @rank_zero_experiment
    def experiment(self) -> _KeepingWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment


def write_rows_atomic(path: Path, header: list[str], rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=header)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())


def _step(row: dict) -> int | None:
    """The row's step, or None for a row a kill cut short (missing or extra fields)."""
    if None in row or any(v is None for v in row.values()):
        return None
    try:
        return int(float(row["step"]))
    except (KeyError, ValueError):
        return None


def continue_metrics_log(csv_path: Path, step: int, checkpoint_row: dict | None) -> list[str]:
    """Keep the rows of steps before ``step`` (the checkpoint's global step; a row's
    ``step`` is the 0-based index of the batch it follows) and put the checkpoint's own
    row in place of any copy of it; return the header the logger must append under.
    ``step`` 0 starts the log afresh."""
    rows, header = [], []
    if csv_path.is_file() and step > 0:
        with csv_path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [r for r in reader if (s := _step(r)) is not None and s < step]
    if checkpoint_row is not None:
        rows = [r for r in rows if _step(r) != checkpoint_row["step"]] + [checkpoint_row]
        header = sorted(set(header) | set(checkpoint_row))
    if not rows:
        csv_path.unlink(missing_ok=True)
        return []
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    write_rows_atomic(csv_path, header, rows)
    return header
