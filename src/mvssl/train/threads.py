"""How many CPU threads a training process uses, and pinning ``--jobs`` workers to cores. The rule
(docs/performance.md, "Threads", with why and what it was measured to save): the cores this
process may use (its affinity, at most torch's default), less those other processes keep busy now::

    threads = clamp(usable - floor(busy + 0.5), 1, usable)       # then // processes under DDP

``busy``: the mean of ``procs_running`` (``/proc/stat``) less this process's running threads, not
the load average, which lags a minute behind (a script's next run would still count the last one).
``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, or a count set with ``torch.set_num_threads``, win."""
from __future__ import annotations

import math
import os
import time

import torch

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_TORCH_DEFAULT: int | None = None
_RULE_SET: int | None = None  # the count the rule last set in this process


def _caller_chose() -> bool:
    """Whether a caller changed torch's thread count since the rule last set it."""
    return _RULE_SET is not None and torch.get_num_threads() != _RULE_SET


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity mask; all of them where there is none)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def own_running(tasks: str = "/proc/self/task") -> int:
    """This process's threads that are running or runnable now (state R), at least 1 (this one)."""
    running = 0
    try:
        for task in os.listdir(tasks):
            try:
                with open(f"{tasks}/{task}/stat") as f:
                    running += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, IndexError):
                pass
    except OSError:
        pass
    return max(1, running)


def busy_cores(samples: int = 20, every: float = 0.01, stat: str = "/proc/stat",
               tasks: str = "/proc/self/task") -> float:
    """Other runnable threads on the machine now: the mean over ``samples`` reads of
    ``procs_running`` less this process's own running threads (its OpenMP threads spin while
    it trains); the 1-minute load average where there is no ``/proc/stat``."""
    counts = []
    for i in range(samples):
        try:
            with open(stat) as f:
                running = next(int(line.split()[1]) for line in f if line.startswith("procs_running"))
            counts.append(running - own_running(tasks))
        except (OSError, StopIteration, ValueError, IndexError):
            break
        if i + 1 < samples:
            time.sleep(every)
    if counts:
        return max(0.0, sum(counts) / len(counts))
    try:
        return os.getloadavg()[0]
    except OSError:  # not every platform has one: treat the machine as quiet
        return 0.0


def threads_for(usable: int, busy: float, processes: int = 1) -> int:
    """The rule: of ``usable`` cores, those that ``busy`` other threads leave free (``busy``
    rounded half up: sharing a core costs more than leaving it), at least one, shared by this
    run's ``processes`` (DDP on the CPU)."""
    usable = max(1, usable)
    free = usable - math.floor(max(0.0, busy) + 0.5)
    return max(1, min(usable, free) // max(1, processes))


def apply_thread_rule(processes: int = 1, environ=os.environ) -> str:
    """Set torch's thread count by :func:`threads_for` unless the user chose one in the
    environment; returns what was decided, for the run's first line."""
    chosen = next((name for name in THREAD_VARIABLES if environ.get(name)), None)
    if chosen is not None:
        return f"{torch.get_num_threads()} thread(s) ({chosen}={environ[chosen]})"
    global _TORCH_DEFAULT, _RULE_SET
    if _caller_chose():
        return f"{torch.get_num_threads()} thread(s) (set by the caller with torch.set_num_threads)"
    if _TORCH_DEFAULT is None:  # torch's own choice (one per physical core) before any call here changed it
        _TORCH_DEFAULT = torch.get_num_threads()
    usable, busy = min(len(usable_cores()), _TORCH_DEFAULT), busy_cores()
    threads = threads_for(usable, busy, processes)
    torch.set_num_threads(threads)
    _RULE_SET = threads
    return f"{threads} thread(s) ({busy:.1f} other busy of {usable} usable core(s))"


def recheck_threads(processes: int = 1, samples: int = 5) -> tuple[int, int] | None:
    """During a run: the thread rule again with the load of now (``samples`` reads), applied when
    it changes the count; (before, after) when it did, else None. Not when the user chose a count."""
    global _RULE_SET
    if any(os.environ.get(name) for name in THREAD_VARIABLES) or _TORCH_DEFAULT is None or _caller_chose():
        return None
    before = torch.get_num_threads()
    after = threads_for(min(len(usable_cores()), _TORCH_DEFAULT), busy_cores(samples), processes)
    if after == before:
        return None
    torch.set_num_threads(after)
    _RULE_SET = after
    return before, after


def worker_core(counter, cores: list[int]) -> int:
    """The core the next worker takes: workers count themselves through the shared
    ``counter`` (a ``multiprocessing.Value``) and take the usable cores in turn."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    return cores[index % len(cores)]


def pin_worker(counter, cores: list[int]) -> None:
    """Run this worker process on one core of ``cores`` (no-op where affinity cannot be set)."""
    try:
        os.sched_setaffinity(0, {worker_core(counter, cores)})
    except (AttributeError, OSError):
        pass
