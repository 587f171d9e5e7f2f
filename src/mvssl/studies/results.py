"""What every experiment shares (CLAIMS.md, "Output of every experiment"): its output folder,
one progress line per finished run with an ETA, encoders kept in run folders under the output
folder, and one writer for ``results.json`` and ``results.md``.

An experiment builds an :class:`Experiment` from its parsed arguments (see
:func:`add_common_arguments`), trains through :meth:`Experiment.train`, and ends with
:meth:`Experiment.write`. ``--resume`` continues an experiment that was cut off: finished run
folders are reused, unfinished ones trained again.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import yaml

from ..config import deep_update

RESULTS_JSON, RESULTS_MD, ENCODERS, FAILED = "results.json", "results.md", "encoders", "failed.txt"
WALL_JSON = "wall.json"  # every attempt's wall time so far, kept at each progress line (a killed attempt counts)
PRECISIONS = ("auto", "32", "bf16-mixed")  # --precision: every arm's trainer.precision (auto: each arm's own)
MAX_AUTO_JOBS = 8
NEW_VERSION_HELP = ("--out holds results of an earlier version of this study: keep them under versions/ and run this "
                    "version beside them")  # --jobs auto: at most this many training processes (about 1 GB of memory each)


def add_common_arguments(p, seeds: int = 3, quick_help: str = "a smoke run of a few minutes (its verdicts are "
                         "marked quick and never quoted as results)") -> None:
    p.add_argument("--seeds", type=int, default=seeds,
                   help=f"training seeds per arm (default {seeds}; the rules ask for at least 3)")
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.add_argument("--out", help="output folder (default runs/<experiment>-<time>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the experiment in --out: reuse its finished runs, train the rest")
    p.add_argument("--new-version", action="store_true", help=NEW_VERSION_HELP)
    p.add_argument("--jobs", default="auto",
                   help=f"encoders trained at once, each in its own single-threaded process (default auto: one "
                   f"per CPU core this process may use, at most {MAX_AUTO_JOBS}, 1 when a GPU is visible; 1: train in "
                   "this process, on one thread too: the results do not depend on --jobs)")
    add_execution_arguments(p)


def add_execution_arguments(p) -> None:
    """``--seeds-in-one-model`` and ``--precision``: how a study's runs train (``mvssl study run``
    and every ``mvssl experiment NAME``)."""
    p.add_argument("--seeds-in-one-model", action="store_true",
                   help="train each arm's seeds as one batched model where it can (SimCLR, BYOL on the convnet: "
                   "docs/performance.md); other arms train one run at a time. A batched seed equals its own run "
                   "only up to rounding, which after hundreds of steps can move its results by a few points; recorded in "
                   "results.json and results.md")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="trainer.precision of every arm and of the supervised references (default auto: as the study "
                   "file says, trainer.precision auto for the arms, fp32 for the supervised references); recorded in "
                   "results.json and results.md, and --resume refuses another precision")


def parse_jobs(text) -> int:
    """``--jobs``: a positive integer, or ``auto`` (the usable CPU cores; 1 where CUDA is visible)."""
    if str(text) == "auto":
        import torch

        return 1 if torch.cuda.is_available() else max(1, min(MAX_AUTO_JOBS, len(os.sched_getaffinity(0))))
    try:
        jobs = int(text)
    except ValueError:
        raise ValueError(f"--jobs must be a positive integer or auto, got {text!r}") from None
    if jobs < 1:
        raise ValueError(f"--jobs must be a positive integer or auto, got {jobs}")
    return jobs


def machine_description(precision: str = "auto") -> str:
    """The machine line; under ``--precision`` other than auto it names the precision the runs were
    asked for, and what auto would have picked here only beside it."""
    from ..bench.common import describe, machine

    info = machine()
    if precision != "auto":
        info["auto_precision"] = f"not used (--precision {precision}; auto would pick {info['auto_precision']})"
    return describe(info)


def fmt(summary: dict, digits: int = 1) -> str:
    """``mean ± ci95`` of a :func:`stats.summarize` result (``mean`` alone for one seed)."""
    if summary["ci95"] is None or not math.isfinite(summary["ci95"]):
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['ci95']:.{digits}f}"


class RunFailed(RuntimeError):
    """A run (or its measures) failed: the study stops at once, its message one line naming the run."""


class Experiment:
    def __init__(self, name: str, args, total_runs: int, echo=partial(print, flush=True)):
        if args.seeds < 1:
            raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
        if args.resume and not args.out:
            raise ValueError("--resume continues the experiment in --out; name that folder")
        self.name, self.quick, self._print = name, bool(args.quick), echo
        self.seeds = list(range(args.seeds))
        self.out = Path(args.out or f"runs/{name}-{datetime.now():%Y%m%d-%H%M%S}")
        if (self.out / RESULTS_JSON).exists() and not args.resume:
            raise FileExistsError(f"{self.out} already holds {RESULTS_JSON}; choose another --out (or --resume "
                                  "to reuse its finished runs)")
        if args.resume and not self.out.is_dir():
            raise FileNotFoundError(f"--resume: {self.out} does not exist")
        self.out.mkdir(parents=True, exist_ok=True)
        self.command = "mvssl " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else f"mvssl experiment {name}"
        self.total, self.done_runs, self.started = max(1, total_runs), 0, time.perf_counter()
        self.to_train, self.trained_here = max(1, total_runs), 0  # runs this attempt trains (the engine counts them)
        self.resume = bool(args.resume)
        self.jobs = parse_jobs(getattr(args, "jobs", 1))
        self.trained: dict[str, dict] = {}  # runs trained ahead by train_ahead: name -> metrics
        self.earlier_walls = self._earlier_walls() if self.resume else []

    def _earlier_walls(self) -> list[float]:
        """Wall times of the earlier attempts of a resumed experiment: from ``wall.json``, which
        every progress line updates (so an attempt killed before it wrote results counts), or
        from the results.json of a folder written before that file existed."""
        for name, key in ((WALL_JSON, "attempts"), (RESULTS_JSON, "wall_seconds_attempts")):
            try:
                earlier = json.loads((self.out / name).read_text())
            except (OSError, ValueError):
                continue
            return list(earlier.get(key) or [earlier.get("wall_seconds", 0.0)])
        return []

    def record_attempts(self) -> list[float]:
        """The wall time of every attempt, this one's so far last, written to ``wall.json`` and returned."""
        attempts = self.earlier_walls + [self.elapsed()]
        if self.out.is_dir():
            from ..checkpoint_io import write_text_atomic

            write_text_atomic(self.out / WALL_JSON, json.dumps({"attempts": attempts}))
        return attempts

    def echo(self, line: str) -> None:
        """Print one progress line and keep the wall time spent so far."""
        self._print(line)
        self.record_attempts()

    # --- progress -------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def progress(self, what: str, headline: str) -> None:
        """One line per finished unit of work: what it was, its headline, elapsed and ETA."""
        self.done_runs += 1
        elapsed = self.elapsed()
        left = max(0, self.total - self.done_runs)
        eta = elapsed / self.done_runs * left
        self.echo(f"[{self.done_runs}/{self.total}] {what}: {headline}  ({_clock(elapsed)} elapsed, "
                  f"ETA {_clock(eta)})")

    def trained_line(self, name: str, seconds: float, runs: int = 1, how: str = "") -> None:
        """The progress line of ``runs`` runs trained in this process (``--jobs 1``): elapsed and
        the training's ETA (the pool's workers have their own, :meth:`map`)."""
        self.trained_here += runs
        eta = self.elapsed() / self.trained_here * max(0, self.to_train - self.trained_here)
        self.echo(f"[trained {self.trained_here}/{self.to_train}] {name} in {_clock(seconds)}{how}  "
                  f"({_clock(self.elapsed())} elapsed, training ETA {_clock(eta)})")

    # --- runs -----------------------------------------------------------------------------
    def run_path(self, name: str) -> Path:
        return self.out / ENCODERS / name

    def _check_same_config(self, run_dir: Path, cfg: dict | None) -> None:
        """A run reused by ``--resume`` must have been trained with what the experiment asks
        now (its steps, batch, method...): every setting ``cfg`` names is compared with the run's
        saved config.yaml; a setting that config does not record (an older mvssl) is not."""
        if cfg is None or not (run_dir / "config.yaml").exists():
            return
        saved = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        want = json.loads(json.dumps(cfg, default=str))
        root = (want.get("data") or {}).get("root")
        if isinstance(root, str):  # a run folder records its data root resolved
            want["data"]["root"] = str(Path(root).resolve())
            if isinstance(saved.get("data"), dict) and isinstance(saved["data"].get("root"), str):
                saved["data"]["root"] = str(Path(saved["data"]["root"]).resolve())
        first = next(_differences(want, saved), None)
        if first is not None:
            key, want, have = first
            raise ValueError(f"--resume: {run_dir} was trained with {key} = {have!r}, but this experiment asks for "
                             f"{want!r} (other options than the first attempt's?); use a new --out to train afresh")

    def _finished(self, name: str, cfg: dict | None = None) -> dict | None:
        """The metrics of a run that needs no training (trained ahead, or finished before a
        ``--resume``); otherwise None, after clearing an unfinished folder (``--resume``) or
        refusing to overwrite one."""
        if name in self.trained:
            return self.trained[name]
        run_dir = self.run_path(name)
        if (run_dir / "metrics.json").exists() and (run_dir / "encoder.pt").exists() and self.resume:
            self._check_same_config(run_dir, cfg)
            return json.loads((run_dir / "metrics.json").read_text())
        if run_dir.exists():
            if not self.resume:
                raise FileExistsError(f"{run_dir} exists; use a new --out or --resume")
            shutil.rmtree(run_dir)  # cut off before it finished: train it again
        return None

    def _run_config(self, cfg: dict, name: str) -> dict:
        return deep_update(cfg, {"trainer": {"out_dir": str(self.out / ENCODERS), "name": name, "progress": False}})

    def train(self, cfg: dict, name: str) -> tuple[str, dict]:
        """Train ``cfg`` into ``OUT/encoders/NAME`` (quietly) and return (path relative to OUT,
        metrics). A run trained ahead (:meth:`train_ahead`) or, with ``--resume``, finished
        earlier is reused; an unfinished one is trained again."""
        metrics = self._finished(name, cfg)
        if metrics is None:
            started = time.perf_counter()
            metrics = self.attempt(name, _train_quietly, self._run_config(cfg, name))
            self.trained_line(name, time.perf_counter() - started)
        return str(self.run_path(name).relative_to(self.out)), metrics

    def train_ahead(self, runs: list[tuple[dict, str]], also: list[tuple] = ()) -> list:
        """Train these (config, name) runs now, ``--jobs`` at a time, each in its own
        single-threaded process, so that the experiment's later :meth:`train` calls find them
        finished. A run gets the same config, seed and folder as when :meth:`train` trains it.
        With ``--jobs 1`` this trains nothing: :meth:`train` trains each run when it is asked.

        ``also`` holds other work for the same pool, ``(fn, item, label)`` triples (``fn``
        module-level, as for :meth:`map`), so that it fills the cores beside the runs instead
        of waiting for a pool of its own; their results are returned in order (computed here,
        one by one, with ``--jobs 1``)."""
        todo = [(self._run_config(cfg, name), name) for cfg, name in runs if self._finished(name, cfg) is None]
        also = list(also)
        if self.jobs < 2 or len(todo) + len(also) < 2:
            done = []
            for fn, item, label in also:  # here, one by one: a progress line each (a batched group counts its seeds)
                started = time.perf_counter()
                done.append(self.attempt(label, fn, item))
                self.trained_line(label, time.perf_counter() - started, len(done[-1]) if isinstance(done[-1], list)
                                  else 1)
            return done
        names = [name for _, name in todo]
        tasks = [(_train_quietly, cfg) for cfg, _ in todo] + [(fn, item) for fn, item, _ in also]
        results = self.map(call_task, tasks, what="trained", labels=names + [label for _, _, label in also])
        self.trained.update(zip(names, results[:len(names)]))
        return results[len(names):]

    def map(self, fn, items: list, what: str = "measured", labels: list[str] | None = None,
            on_result=None) -> list:
        """``[fn(item) for item in items]``, ``--jobs`` at a time in single-threaded worker
        processes (in this process with ``--jobs 1``), one progress line per finished item
        (``labels`` name them). ``fn`` must be a module-level function; a worker that needs
        shared data (probe frames) builds it once per process (cache it). ``on_result(i,
        result)`` is called in this process as each item finishes (in the order they finish),
        so that a caller can write what is done while the rest still runs; it then prints the
        progress line itself. The first failure stops the items in progress at once (their folders
        are unfinished: ``--resume`` trains them again) and is raised as :class:`RunFailed`."""
        def label(i: int) -> str:
            return labels[i] if labels else f"item {i + 1} of {len(items)}"

        if self.jobs < 2 or len(items) < 2:
            out = []
            for i, item in enumerate(items):
                out.append(self.attempt(label(i), fn, item))
                if on_result is not None:
                    on_result(i, out[-1])
            return out
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from multiprocessing import get_context

        workers = min(self.jobs, len(items))
        started, out = time.perf_counter(), [None] * len(items)
        from ..train.threads import usable_cores

        context = get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread,
                                 initargs=(context.Value("i", 0), usable_cores())) as pool:
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
            try:
                for done, future in enumerate(as_completed(futures), 1):
                    i = futures[future]
                    out[i] = self.attempt(label(i), future.result)
                    if on_result is not None:
                        on_result(i, out[i])
                        continue
                    spent = time.perf_counter() - started
                    self.echo(f"[{what} {done}/{len(items)}, {workers} at a time] {label(i)}  ({_clock(self.elapsed())} "
                              f"elapsed, this batch ETA {_clock(spent / done * (len(items) - done))})")
            except BaseException:  # stopped by the user, or a row failed: the rows in progress are dropped at once
                for process in (getattr(pool, "_processes", None) or {}).values():  # (finished rows stay, for --resume)
                    process.terminate()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return out

    def attempt(self, label: str, fn, *args):
        """``fn(*args)``; a failure becomes :class:`RunFailed`, one line naming ``label`` (the run:
        ``ARM-seedN``), its traceback kept in ``OUT/failed.txt``."""
        try:
            return fn(*args)
        except (KeyboardInterrupt, RunFailed):
            raise
        except Exception as err:
            import traceback

            (self.out / FAILED).write_text(f"{label}\n\n" + "".join(traceback.format_exception(err)))
            first = (str(err).splitlines() or [""])[0]
            raise RunFailed(f"{label} failed: {type(err).__name__}: {first} (the runs that finished are kept: "
                            f"--resume --out {self.out} continues; traceback in {self.out / FAILED})") from err

    # --- results --------------------------------------------------------------------------
    def write(self, points: list[dict], claims: list[dict], markdown: str, title: str,
              extra: dict | None = None, plots: list[str] = (), complete: bool = True) -> None:
        """Write ``results.json`` (CLAIMS.md's shape) and ``results.md`` (``markdown`` holds the
        tables and verdicts). Call it again as runs are measured (``complete=False``) so that a
        run cut off later keeps what it measured."""
        for c in claims:
            c["quick"] = self.quick
        attempts = self.record_attempts()
        wall = sum(attempts)
        host = None
        if complete:  # the host's speed as the run ends (a VM's speed moves with its host's load)
            from ..bench.matmul import single_thread_fp32_gflops

            host = single_thread_fp32_gflops()
        data = {"experiment": self.name, "command": self.command, "quick": self.quick, "complete": complete,
                "wall_seconds": wall, "wall_seconds_attempts": attempts, "machine": machine_description((extra or {}).get("precision", "auto")),
                "host_fp32_gflops_1thread": host,
                "seeds": self.seeds,
                "points": points, "claims": claims, **(extra or {})}
        tmp = self.out / (RESULTS_JSON + ".tmp")
        tmp.write_text(json.dumps(_finite(data), indent=2, default=_json_default))
        tmp.replace(self.out / RESULTS_JSON)
        status = "" if complete else "\n\n**Incomplete**: the run was still going or was cut off.\n"
        quick = ("\n\n**Quick mode**: a smoke run; its verdicts are not results.\n" if self.quick else "")
        images = "".join(f"\n\n![{p}]({p})" for p in plots)
        text = (f"# {title}\n{status}{quick}\n{markdown}{images}\n\n"
                f"## Budget\n\nWall time {wall:.0f} s ({wall / 60:.1f} min)"
                + (f" over {len(attempts)} attempts ({' + '.join(f'{a:.0f} s' for a in attempts)}; a resumed attempt "
                   "reuses the finished encoders and measures the rest)" if len(attempts) > 1 else "")
                + f", seeds {self.seeds}, "
                f"machine: {data['machine']}"
                + (f"; one thread's fp32 matmul at the end: {host:.0f} GFLOP/s (the host's speed then)" if host else "")
                + f".\n\nCommand: `{self.command}`\n")
        (self.out / RESULTS_MD).write_text(text)
        if complete:
            self._print(f"\n{markdown}\n\nwall time {wall:.0f} s; wrote {self.out}/"
                      f"{RESULTS_MD} and {RESULTS_JSON}")


def _differences(want: dict, have: dict, prefix: str = ""):
    """(dotted key, wanted, recorded) for every leaf of ``want`` that ``have`` records otherwise."""
    for key, value in want.items():
        if key not in have or value is None:
            continue
        if isinstance(value, dict) and isinstance(have[key], dict):
            yield from _differences(value, have[key], f"{prefix}{key}.")
        elif value != have[key] and not (isinstance(value, (int, float)) and isinstance(have[key], (int, float))
                                         and math.isclose(value, have[key])):
            yield f"{prefix}{key}", value, have[key]


def _one_thread(counter=None, cores=()) -> None:
    """A worker of :meth:`Experiment.map`: one thread, pinned to a core of its own (the usable
    cores in turn, ``train/threads.py``), so that --jobs workers share the cores without
    oversubscribing them; it exits when the experiment's process is gone (killed or crashed),
    instead of training on for nobody."""
    import threading

    if counter is not None:
        from ..train.threads import pin_worker

        pin_worker(counter, list(cores))
    os.environ["OMP_NUM_THREADS"] = "1"
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    import torch

    torch.set_num_threads(1)


@contextlib.contextmanager
def one_thread_here(jobs: int):
    """At ``--jobs 1`` a study trains and measures its runs in this process: on one thread there too,
    as each ``--jobs`` worker does (``_one_thread``), and with no thread rule re-deciding the count by
    the machine's load (``train/threads.py``). A count of threads changes the rounding of a run, so
    without this a study's numbers depended on ``--jobs`` and on the load. Not on a GPU; the
    environment and torch's count are restored afterwards."""
    import torch

    if jobs != 1 or torch.cuda.is_available():
        yield
        return
    saved, threads = os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
        torch.set_num_threads(threads)


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Exit this process as soon as its parent ``parent`` is no longer its parent."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def call_task(task: tuple):
    """``fn(item)`` for a ``(fn, item)`` task of a pool that mixes kinds of work."""
    fn, item = task
    return fn(item)


def _train_quietly(cfg: dict) -> dict:
    from ..train import train

    _, metrics = train(cfg, echo=lambda *a, **k: None)
    return metrics


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _finite(value):
    """JSON has no infinity: an interval that does not exist (one seed) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
