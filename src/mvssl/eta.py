"""A progress line a person can read, for any long command's units of work (training steps,
I_NCE seeds): ``step 300/1500 (20%), 1:00 elapsed, ETA 4:00``. Plain text, no trainer."""
from __future__ import annotations


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(what: str, done: int, total: int, elapsed: float, done_before: int = 0) -> str:
    """``step 300/1500 (20%), 1:00 elapsed, ETA 4:00`` -- the ETA from the rate of the units
    done in this process (``done_before``: units a resumed run had already done)."""
    rate = (done - done_before) / elapsed if elapsed > 0 and done > done_before else 0.0
    eta = clock((total - done) / rate) if rate > 0 else "?"
    return f"{what} {done}/{total} ({100 * done / total:.0f}%), {clock(elapsed)} elapsed, ETA {eta}"
