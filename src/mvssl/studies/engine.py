"""Run a study: every arm x seed trained (``--jobs`` at a time, ``--resume`` reusing finished
runs), every measure taken on the trained encoder and on its random-init twin, then the gates
and verdicts of :mod:`mvssl.studies.judge`, written by :mod:`mvssl.studies.writer`.

Pre-registration: ``results.json`` records the study file's SHA-256 and the git commit it
came from. An output folder that holds results of another version of the study is refused
unless ``new_version``; then the earlier version (results and encoders) moves to
``OUT/versions/N-HASH/`` and the new page lists the verdicts of every version. Nothing is
overwritten silently: a folder holding this version's results needs ``resume``.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from ..checkpoint_io import write_text_atomic
from . import spec as spec_mod
from .judge import judge
from .results import RESULTS_JSON, RESULTS_MD, ENCODERS, Experiment, one_thread_here, parse_jobs
from ..build import resolve, build_encoder_backbone
from ..config import deep_update
from .measures import Run, measure, resolve_user_function
from ..train.seeds import batchable, train_seeds_quietly
from .writer import write_results

MEASURES_JSON = "study_measures.json"  # beside each run: its measures, reused by --resume
VERSIONS = "versions"
PARTIAL_EVERY = 20.0  # seconds: results.json written at most this often while runs are measured


def git_commit(path: Path, scope: Path | None = None) -> str | None:
    """The commit of the git work tree holding ``path``, or None outside git. ``+dirty`` is
    added only when what the results depend on differs from that commit: ``scope`` (default
    ``path`` itself; for a declared study, the whole mvssl package) has uncommitted changes."""
    try:
        where = str(path.resolve().parent)
        head = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--", str((scope or path).resolve())],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def study_path(file: Path, out: Path) -> str:
    """Where the study file is, recorded without any machine's absolute path: relative to the
    output folder when both lie in one git work tree (or neither is in one), else relative to
    the root of the file's work tree (``configs/studies/x.yaml``)."""
    file, out = Path(file).resolve(), Path(out).resolve()

    def top(p: Path) -> str | None:
        while not p.is_dir() and p != p.parent:  # the nearest folder that exists
            p = p.parent
        try:
            r = subprocess.run(["git", "-C", str(p), "rev-parse", "--show-toplevel"],
                               capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None
    root = top(file)
    if root is None or top(out) == root:
        return os.path.relpath(file, out)
    return os.path.relpath(file, root)


def registration(study: spec_mod.Study, out: Path) -> dict:
    """What pre-registers the results: the study file (:func:`study_path`), its SHA-256 and its commit."""
    return {"file": study_path(Path(study.path), out), "sha256": study.sha256, "commit": git_commit(Path(study.path)),
            "name": study.name, "correction": study.correction, "alpha": study.alpha}


def check_version(out: Path, study: spec_mod.Study, resume: bool, new_version: bool) -> None:
    """Refuse an output folder that holds another version of the study (unless ``new_version``,
    which moves that version under ``OUT/versions/``)."""
    path = out / RESULTS_JSON
    if not path.exists():
        return
    try:
        earlier = json.loads(path.read_text())
    except ValueError:
        raise ValueError(f"{path}: not valid JSON; choose another --out") from None
    sha = (earlier.get("study") or {}).get("sha256")
    if sha == study.sha256:
        if new_version:
            raise ValueError(f"{out} already holds this version of the study (sha256 {sha[:12]}); --new-version is "
                             "for a changed study file (use --resume to continue this one)")
        return
    if not new_version:
        raise ValueError(f"{out} holds another version of the study (sha256 {str(sha)[:12]}, this file "
                         f"{study.sha256[:12]}): a changed prediction, gate or budget is a new version; pass "
                         "--new-version to keep both (the earlier one moves to versions/), or choose another --out")
    archive = out / VERSIONS / f"{len(versions(out)) + 1}-{str(sha)[:12]}"
    archive.mkdir(parents=True)
    for name in (RESULTS_JSON, RESULTS_MD, ENCODERS):
        if (out / name).exists():
            shutil.move(str(out / name), str(archive / name))
    for png in out.glob("*.png"):
        shutil.move(str(png), str(archive / png.name))


def check_precision(out: Path | None, precision: str, resume: bool, study: spec_mod.Study) -> None:
    """A precision the study's stages do not honour (its ``precisions``) is refused; ``--resume``
    continues a study in the precision it was run in (results.json's ``precision``; an older one
    without it ran in auto): another is refused before anything trains."""
    if precision not in study.precisions:
        raise ValueError(f"--precision {precision}: study {study.name} runs in {' or '.join(study.precisions)} only "
                         "(its stages have no other path)")
    path = out / RESULTS_JSON if out is not None else None
    if resume and path is not None and path.exists():
        earlier = json.loads(path.read_text()).get("precision", "auto")
        if earlier != precision:
            raise ValueError(f"--resume: {out} was run with --precision {earlier}, not {precision}: resume it with "
                             f"--precision {earlier}, or choose another --out")


def versions(out: Path) -> list[dict]:
    """The earlier versions kept in ``OUT/versions`` (their results.json), oldest first."""
    folder = out / VERSIONS
    if not folder.is_dir():
        return []
    found = []
    for d in sorted(folder.iterdir(), key=lambda p: int(p.name.split("-")[0]) if p.name.split("-")[0].isdigit() else 0):
        if (d / RESULTS_JSON).exists():
            found.append({"folder": str(d.relative_to(out)), **json.loads((d / RESULTS_JSON).read_text())})
    return found


def _measured(run: Run, name: str, mspec: dict, cache: dict):
    key = f"{run.which}/{name}/{json.dumps(mspec, sort_keys=True)}" + \
        ("" if run.representation == "backbone" else f"/{run.representation}")
    if key not in cache:
        cache[key] = measure(run, mspec)
    return cache[key]


def measure_run(item: tuple) -> dict:
    """Every measure of one run, on the trained encoder and on its random-init twin: a
    module-level task for :meth:`Experiment.map` (``(run_dir, config, metrics, seed,
    measures, representation)``). Values are kept in the run folder, so ``--resume`` measures nothing twice."""
    run_dir, cfg, metrics, seed, measures, representation = item
    cache_path = Path(run_dir) / MEASURES_JSON
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    out = {}
    for which in ("trained", "random init"):
        run = Run(Path(run_dir), cfg, metrics, seed, which, representation)
        out[which] = {name: _measured(run, name, spec, cache) for name, spec in measures.items()}
    cache_path.write_text(json.dumps(cache, indent=1))
    return out


def chance_levels(study: spec_mod.Study, dataset_of) -> dict:
    """``references.chance`` per measure: a number, a mapping per measure, or ``auto`` (one over
    the number of classes of the base config's dataset, for the measures in %)."""
    chance = study.references.get("chance")
    if chance is None:
        return {}
    if isinstance(chance, dict):
        return {k: float(v) for k, v in chance.items()}
    if chance == "auto":
        labels = getattr(dataset_of(), "train_labels", None)
        if labels is None:
            return {}
        chance = 100.0 / (int(labels.max()) + 1)
    return {m: float(chance) for m, s in study.measures.items() if s.get("unit") == "%"}


def stage_task(item: tuple) -> dict:
    """Train one arm by its stage (``fn(config, run_dir, **arm.stage) -> metrics``, which writes
    the run's config.yaml and encoder.pt and returns what its measures read, as ``mvssl train``
    returns its evaluation), then write metrics.json, the finished mark: a module-level task, so
    that stage runs share the ``--jobs`` pool with the other runs."""
    stage, cfg, run_dir, options = item
    Path(run_dir).mkdir(parents=True)
    metrics = resolve_user_function(stage)(resolve(cfg), Path(run_dir), **options)
    write_text_atomic(Path(run_dir) / "metrics.json", json.dumps(metrics, indent=1, default=str))
    return metrics


def train_stage(exp: Experiment, arm, cfg: dict, name: str, stated: dict) -> tuple[str, dict]:
    """An arm trained by its own stage (:func:`stage_task`), reused by ``--resume`` like any run; the
    stage writes its own config.yaml, compared with what the study ``stated`` for the arm (not the
    ``mvssl train`` defaults it resolves over: those are not the stage's)."""
    metrics = exp._finished(name, stated)
    if metrics is None:
        started = time.perf_counter()
        metrics = exp.attempt(name, stage_task, (arm.train, cfg, str(exp.run_path(name)), arm.stage))
        exp.trained_line(name, time.perf_counter() - started, how=f" ({arm.train})")
    return str(exp.run_path(name).relative_to(exp.out)), metrics


def _cost(cfg: dict) -> int:
    """A run's work, to start the longest first: images seen (steps x batch, defaults included)
    x pixels x parameters of its backbone (a ViT arm costs many convnet arms of the same steps)."""
    full = resolve(cfg)
    size = _backbone_parameters(json.dumps({k: full[k] for k in ("method", "backbone", "data")}, sort_keys=True,
                                           default=str))
    return full["trainer"]["max_steps"] * full["optim"]["batch_size"] * full["data"]["image_size"] ** 2 * size


@functools.lru_cache(maxsize=64)
def _backbone_parameters(sections: str) -> int:
    try:
        return sum(p.numel() for p in build_encoder_backbone(json.loads(sections)).parameters())
    except Exception:  # an architecture that needs its data to be built (or a stage's own): cost it as one
        return 1


def seed_groups(exp: Experiment, ahead: list[tuple[dict, str]]) -> tuple[list[list[tuple[dict, str]]], list]:
    """``--seeds-in-one-model``: each arm's unfinished seeds that ``train/seeds.py`` trains as one
    stacked model (a group per arm), and the runs left to train one by one."""
    by_arm: dict = {}
    for cfg, name in ahead:
        by_arm.setdefault(name.rsplit("-seed", 1)[0], []).append((cfg, name))
    groups, rest = [], []
    for runs in by_arm.values():
        todo = [(c, n) for c, n in runs if exp._finished(n, c) is None]
        if len(todo) > 1 and batchable([exp._run_config(c, n) for c, n in todo]) is None:
            groups.append(todo)
        else:
            rest += runs
    return groups, rest


def one_model(trained: dict) -> dict:
    """results.json's ``seeds_in_one_model``: per arm, the groups of seeds that trained as one
    stacked model (each run's metrics.json says so); a run not named trained alone. A stacked seed
    equals its separate run only up to rounding (docs/performance.md), so results depend on it."""
    groups: dict = {}
    for name, (_, metrics) in sorted(trained.items()):
        seeds = metrics.get("seeds_in_one_model") if isinstance(metrics, dict) else None
        if seeds and seeds not in groups.setdefault(name.rsplit("-seed", 1)[0], []):
            groups[name.rsplit("-seed", 1)[0]].append(seeds)
    return groups


def run_study(path: str | Path | None, out: str | None = None, resume: bool = False, new_version: bool = False,
              jobs="auto", quick: bool = False, echo=print, study: spec_mod.Study | None = None,
              extra_plots=None, seeds_in_one_model: bool = False, precision: str = "auto") -> dict:
    """Train, measure and judge the study in ``path`` (or the declared ``study``); returns the
    results (as written). ``extra_plots(out, points) -> [file names]`` draws an experiment's own
    figures beside the plot set. ``precision`` (``--precision``) is every arm's trainer.precision
    (``auto``: the arm's own); it is recorded, not hashed: an execution setting like ``jobs``.
    Every run trains on one thread on the CPU at any ``jobs`` (``one_thread_here``)."""
    with one_thread_here(parse_jobs(jobs)):
        return _run_study(path, out, resume, new_version, jobs, quick, echo, study, extra_plots, seeds_in_one_model,
                          precision)


def _run_study(path, out, resume, new_version, jobs, quick, echo, study, extra_plots, seeds_in_one_model,
               precision) -> dict:
    declared = study is not None
    study = study or spec_mod.load(path, quick=quick)
    if study.source is not None:
        raise ValueError(f"{path}: a study with a source is judged from its results (mvssl study check), not trained")
    args = SimpleNamespace(seeds=max(1, len(study.seeds())), quick=quick, out=out, resume=resume, jobs=jobs)
    if out is not None:
        check_version(Path(out), study, resume, new_version)
    check_precision(Path(out) if out is not None else None, precision, resume, study)
    runs = [(arm, seed) for arm in study.arms.values() for seed in arm.seeds]
    exp = Experiment(study.name, args, total_runs=len(runs), echo=echo)
    exp.seeds = study.seeds()
    reg = registration(study, exp.out)
    if declared:
        (exp.out / "study.yaml").write_text(study.text)
        reg.update({"file": "study.yaml", "commit": git_commit(Path(__file__), Path(__file__).parents[1]),
                    "declared_by": study.path})

    def config(arm, seed, registered=True) -> dict:  # trainer.precision always named: --resume compares it
        cfg = spec_mod.arm_config(study, arm, seed, registered)
        own = cfg["trainer"].get("precision", "auto")
        return deep_update(cfg, {"eval": {"random_baseline": True},
                                 "trainer": {"precision": own if precision == "auto" else precision}})

    exp.to_train = sum(1 for arm, seed in runs if arm.reads is None and not (
        resume and (exp.run_path(f"{arm.name}-seed{seed}") / "metrics.json").exists()))
    echo(f"{study.name}: {exp.to_train} runs to train ({exp.jobs} at a time" + (", longest first" if exp.jobs > 1
         else "") + f"), {len(runs)} to measure; a line as each finishes, with the time left")
    ahead = [(config(arm, seed), f"{arm.name}-seed{seed}") for arm, seed in runs if arm.train is arm.reads is None]
    stages = [(arm.train, config(arm, seed), str(exp.run_path(f"{arm.name}-seed{seed}")), arm.stage)
              for arm, seed in runs if arm.train is not None and exp._finished(f"{arm.name}-seed{seed}") is None]
    groups, ahead = seed_groups(exp, ahead) if seeds_in_one_model else ([], ahead)
    together = [(train_seeds_quietly, [exp._run_config(c, n) for c, n in g],
                 f"{g[0][1].rsplit('-seed', 1)[0]} ({len(g)} seeds in one model)") for g in groups]
    done = exp.train_ahead(sorted(ahead, key=lambda r: -_cost(r[0])),  # longest first: no worker idles at the end
                           also=together + ([(stage_task, item, Path(item[2]).name) for item in stages]
                                            if exp.jobs > 1 else []))
    for group, metrics in zip(groups, done):
        exp.trained.update({name: m for (_, name), m in zip(group, metrics)})
    done = done[len(groups):]
    exp.trained.update({Path(item[2]).name: metrics for item, metrics in zip(stages, done)})
    values: dict = {a: {m: {} for m in study.measures} for a in study.arms}
    random: dict = {a: {m: {} for m in study.measures} for a in study.arms}
    paths: dict = {a: [] for a in study.arms}
    items = []
    trained: dict = {}
    for arm, seed in sorted(runs, key=lambda r: r[0].reads is not None):  # the arms that read others last
        cfg, name = config(arm, seed), f"{arm.reads or arm.name}-seed{seed}"
        rel, metrics = (trained[name] if arm.reads is not None else exp.train(cfg, name) if arm.train is None else
                        train_stage(exp, arm, cfg, name, config(arm, seed, registered=False)))
        trained[name] = rel, metrics
        paths[arm.name].append(rel)
    for arm, seed in runs:
        rel, metrics = trained[f"{arm.reads or arm.name}-seed{seed}"]
        items.append((str(exp.out / rel), resolve(config(arm, seed)), metrics, seed, study.measures, arm.representation))
    first = next(iter(study.measures))
    run_dir, resolved, metrics, seed, _, _ = items[0]
    chance = chance_levels(study, lambda: Run(Path(run_dir), resolved, metrics, seed).dataset())
    earlier = versions(exp.out)

    def write(complete: bool) -> dict:
        verdicts = judge(study, values, random, chance, quick=quick)
        ran = sorted({str(m["precision"]) for _, m in trained.values() if isinstance(m, dict) and "precision" in m})
        return write_results(exp, study, values, random, paths, chance, verdicts, reg, earlier, extra_plots, complete,
                             {"precision": precision, "run_precisions": ran, "jobs": exp.jobs,
                              "seeds_in_one_model": one_model(trained),
                              "stages": any(a.train is not None for a in study.arms.values())})

    last_write = [float("-inf")]

    def record(i: int, measured: dict) -> None:  # as each run's measures come back (from the pool)
        arm, seed = runs[i]
        for which, table in (("trained", values), ("random init", random)):
            for name, value in measured[which].items():
                if value is not None:
                    table[arm.name][name][seed] = value
        twin = random[arm.name][first].get(seed)
        exp.progress(f"{arm.name} seed {seed}", f"{first} {values[arm.name][first].get(seed, float('nan')):.2f}"
                     + (f" (random init {twin:.2f})" if twin is not None else ""))
        if time.perf_counter() - last_write[0] > PARTIAL_EVERY:
            write(complete=False)  # what is measured so far, marked incomplete: a run cut off later keeps it
            last_write[0] = time.perf_counter()

    exp.map(measure_run, items, what="measured", on_result=record,  # --jobs at a time, like the training
            labels=[f"measures of {arm.name}-seed{seed}" for arm, seed in runs])
    return write(complete=True)
