"""LooC vs MoCo v2 (Xiao et al. 2021, "What Should Not Be Contrastive in Contrastive Learning",
Sec. 4): LooC and LooC++ against MoCo with and without each augmentation; the study is declared in
``looc.yaml`` beside this module (docs/looc.md). Its task measures and LooC++'s reliance outputs
are here."""
from __future__ import annotations

import json
from dataclasses import replace

import yaml

from ..studies.experiment import command

COMMAND, HELP, add_arguments, run, study = command(__file__)
RELIANCE = "looc_reliance.json"


def tasks(run, metric: str, train_frames: int, test_frames: int, episodes: int, corruption_images: int,
          severities: list) -> float | None:
    """The study's measures: ``metric`` (rotation, hue, digit, fewshot_1, fewshot_5, corrupted,
    mce) of the run's representation, all of them computed once per encoder; ``mce`` is relative
    to the random-init twin (None for the twin itself)."""
    key = (str(run.run_dir), run.which, run.representation)
    if run.which != "trained":  # one twin per seed and architecture: MoCo's and LooC's backbones are drawn alike
        key = (run.seed, run.representation, json.dumps({k: run.config[k] for k in ("backbone", "data")}, sort_keys=True),
               json.dumps(run.config["method"], sort_keys=True) if run.representation == "looc++" else "")
    if key not in _MEASURED:
        _MEASURED[key] = _probe_all(run, (train_frames, test_frames), episodes, corruption_images, tuple(severities))
    return _MEASURED[key].get(metric)


_MEASURED: dict = {}


def _probe_all(run, sizes, episodes, corruption_images, severities) -> dict:
    from ..eval import corruption_errors, fewshot_eval, fit_linear_classifier, mean_corruption_error
    from ..eval.linear import topk_accuracy
    from ..eval.probes import probe_frames
    from ..eval.robustness import in_chunks
    from .looc_tasks import make_tasks, space_reliance

    data = make_tasks(probe_frames(run.config["data"]), run.seed, sizes)
    out, probes, features, cache = {}, {}, {}, {}
    for task, split in data.items():
        (xtr, ytr), (xte, yte) = split["train"], split["test"]
        for x in (xtr, xte):
            if id(x) not in cache:
                cache[id(x)] = run.embed(x)
        probes[task] = fit_linear_classifier(cache[id(xtr)], ytr, int(ytr.max()) + 1, seed=run.seed)
        features[task] = cache[id(xte)]
        out[task] = 100 * topk_accuracy(probes[task].logits(features[task]), yte)
    for shots in (1, 5):
        fs = fewshot_eval(features["digit"], data["digit"]["test"][1], k_shot=shots, episodes=episodes, seed=run.seed)
        out[f"fewshot_{shots}"] = 100 * fs["accuracy"]
    images, labels = data["digit"]["test"]
    errors = corruption_errors({"x": run}, {"x": probes["digit"]}, in_chunks(images[:corruption_images],
                               labels[:corruption_images]), severities=severities, seed=run.seed)["x"]
    flat = [e for per in errors.values() for e in per.values()]
    out["corrupted"], out["errors"] = 100 * (1 - sum(flat) / len(flat)), errors
    if run.which == "trained":
        twin = _probe_all(replace(run, which="random init"), sizes, episodes, corruption_images, severities)
        out["mce"] = mean_corruption_error(errors, twin["errors"])["mce"]
        if run.representation == "looc++":
            n_spaces = len(run.encoder.heads)
            (run.run_dir / RELIANCE).write_text(json.dumps(
                {task: space_reliance(probes[task], features[task], data[task]["test"][1], n_spaces) for task in data}))
    return out


def reliance_plot(out, points: list[dict]) -> list[str]:
    """The study's own outputs: which embedding space LooC++'s probes rely on (mean over seeds),
    ``looc_reliance.json`` and ``looc_heads.png``."""
    from .looc_tasks import plot_reliance

    folders = [out / r for p in points if p["arm"] == "looc-pp" for r in p["runs"] if (out / r / RELIANCE).exists()]
    if not folders:
        return []
    runs = [json.loads((f / RELIANCE).read_text()) for f in folders]
    augmentations = yaml.safe_load((folders[0] / "config.yaml").read_text())["views"]["augmentations"]
    mean = {t: {k: [sum(v) / len(runs) for v in zip(*(r[t][k] for r in runs))]
                for k in ("top_contributor", "weight_share")} for t in runs[0]}
    (out / RELIANCE).write_text(json.dumps(mean, indent=1))  # mean over seeds
    plot_reliance(mean, ["all", *augmentations], out / "looc_heads.png")
    return ["looc_heads.png"]
