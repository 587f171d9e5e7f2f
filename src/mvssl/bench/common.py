"""What every benchmark shares: a description of the machine and its load, interleaved
timing (variants run in turn, repeated, medians taken, so other processes on a shared
machine slow them alike), peak memory of a call, and the report files."""
from __future__ import annotations

import ctypes
import os
import platform
import threading
import time
from pathlib import Path

import torch

from ..eval.report import write_report as write_files
from ..train.precision import cpu_flags, resolve_precision


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> dict:
    flags = cpu_flags()
    info = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "capability": torch.backends.cpu.get_cpu_capability(),
            "bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16"}),
            "auto_precision": resolve_precision("auto", "auto"), "load_average_1min": os.getloadavg()[0]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def describe(info: dict) -> str:
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    return (f"{info['cpu']}, {info['logical_cpus']} logical CPUs, torch {info['torch']} ({info['threads']} "
            f"threads), capability {info['capability']}, bf16 flags {info['bf16_flags'] or 'none'}{gpu}, "
            f"precision auto: {info['auto_precision']}; "
            f"load average {info['load_average_1min']:.2f}")


def sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def interleaved(fns: dict, repeats: int = 3, warmup: int = 1, first: dict | None = None) -> dict[str, float]:
    """Median seconds per call of each ``fns[name]()``, the variants run in turn each round;
    ``first`` (a dict) receives the seconds of each one's first call (compiling, if it does)."""
    for name, fn in fns.items():
        for i in range(warmup):
            seconds = _timed(fn)
            if i == 0 and first is not None:
                first[name] = seconds
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_timed(fn))
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def _timed(fn) -> float:
    """Seconds of one call of ``fn()``, the device's queued work included."""
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Hand memory freed by earlier steps back to the OS (glibc keeps it otherwise, and a
    repeated step would then show no growth of the resident set)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_memory(fn) -> int:
    """Bytes a call of ``fn`` needs above what was allocated before it: on CUDA from the
    allocator's peak; on CPU the peak resident set size (sampled every millisecond by a
    thread) minus the size before the call."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    _release_free_memory()
    before, peak, done = _rss_bytes(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(0, max(peak[0], _rss_bytes()) - before)


def write_report(out: str | None, name: str, text: str, data: dict) -> None:
    """Print ``text``; with ``--out DIR`` also write DIR/NAME.md and DIR/NAME.json (untitled)."""
    print(text)
    if out:
        write_files(Path(out), name, data, None, text)
        print(f"wrote {Path(out) / name}.md and .json")


def plain_args(args) -> dict:
    """The command's arguments for a JSON report (without argparse's callables)."""
    return {k: v for k, v in vars(args).items() if not callable(v)}


def add_common_arguments(parser) -> None:
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, i.e. OMP_NUM_THREADS)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per variant (median reported)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", help="folder for NAME.md and NAME.json")


def started(args) -> dict:
    """``--threads`` applied; the machine as the benchmark starts."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return machine()
