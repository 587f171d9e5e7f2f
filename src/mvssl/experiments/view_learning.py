"""``mvssl experiment view-learning``: InfoMin's learned views (Tian et al. 2020, Sec. 4.1, Table 2);
the study is declared in ``view_learning.yaml`` beside this module (docs/view_learning.md). Here:
its ``prepare`` (the settings checked, the data loaded), its stage :func:`train_row` (one row:
the generator learnt or set, its I_NCE measured by fresh critics, CMC encoders trained on its
frozen views and probed beside their random-init twins; one run folder), the measures that read
the row (:func:`row_value`) and the plot of the generator's own critic's bound."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml

from ..methods.view_learning import (LearnedViewsEncoder, Schedule, TwoViewCritic, ViewLearning, embed,
                                     fresh_critic_bound, held_out_bound, refresh_batch_norm, train_views)
from ..studies.experiment import command
from ..views.generator import ViewGenerator
from ..data.datasets import load_dataset
from ..data.splits import MIN_LABELS_PER_CLASS, seeded_subset
from ..encoder import Encoder, preprocessing
from ..eval.commands import resolve_device as device_of
from ..eval.linear import linear_probe
from ..studies.plots import figure
from .view_learning_data import SplitShapes, colour_snr, oracle_generator, ImageSetViews

COMMAND, HELP, add_arguments, run, study = command(__file__)

VIEW_KINDS = ("raw", "unsupervised", "supervised", "semi-supervised", "oracle")
ORACLE_DATASETS = ("shapes",)  # the data whose colour directions are known
IMAGE_SIZE = {"shapes": 16, "stl10": 96}  # default --image-size (others: 32)
LABELLED_FRACTION = {"shapes": 0.05, "stl10": 1.0}  # default --labelled-fraction (others: the shapes' value)
SETTINGS = ("gen_steps", "critic_steps", "critic_warmup", "critic_reset", "cmc_steps", "fresh_critics", "probe_size",
            "layers", "linear_layers", "coupling", "batch_size", "width", "generator_lr", "generator_optimizer",
            "generator_schedule", "ce_weight", "generator_ce", "generator_select", "temperature")
HELD_OUT_BATCH = 500  # I_NCE of every critic on held-out images in batches of this many (log N = 6.2 nats)


def settings(values: dict) -> dict:
    """The stage's settings from the options' values, checked before anything trains (each error
    names its option). Fills in ``values["views"]`` when it was not given (every kind this
    dataset supports) and ``values["labelled_fraction"]`` (the dataset's default)."""
    views = values["views"] = values.get("views") or [v for v in VIEW_KINDS
                                                      if v != "oracle" or values["dataset"] in ORACLE_DATASETS]
    if "oracle" in views and values["dataset"] not in ORACLE_DATASETS:
        raise ValueError(f"--views oracle: the oracle views need known colour directions, which --dataset "
                         f"{values['dataset']} has not (only {', '.join(ORACLE_DATASETS)})")
    fraction = values["labelled_fraction"] = LABELLED_FRACTION.get(values["dataset"], LABELLED_FRACTION["shapes"]) \
        if values.get("labelled_fraction") is None else values["labelled_fraction"]
    if not 0 < fraction <= 1:
        raise ValueError(f"--labelled-fraction must be in (0, 1], got {fraction}")
    if values["layers"] + values["linear_layers"] == 0 and any(v not in ("raw", "oracle") for v in views):
        raise ValueError("--layers 0 --linear-layers 0 leaves the generator nothing to learn")
    if values["generator_select"] == "best" and values["critic_warmup"] == 0 and set(views) & {"unsupervised",
                                                                                              "semi-supervised"}:
        raise ValueError("--generator-select best scores each state with a warmed-up critic: needs --critic-warmup > 0")
    return {**{k: values[k] for k in SETTINGS}, "labelled_fraction": fraction,
            "min_labels_per_class": MIN_LABELS_PER_CLASS, "device": resolve_device(values["accelerator"])}


def prepare(values: dict) -> dict:
    """The study file's ``prepare``: the checked :func:`settings`, and the data loaded before
    any output folder (a missing dataset or too few labels leaves nothing): its ``data`` spec
    (:func:`data_and_probe`), ``task``, probe ``targets``, ``chance`` (%) and whether its
    colour directions are known (``colours``)."""
    cfg = settings(values)
    spec = [values["dataset"], values["root"], values["image_size"], values["download"], cfg["labelled_fraction"],
            cfg["probe_size"]]
    data, probe = data_and_probe(tuple(spec))
    if len(probe["test"][0]) < 2:
        raise ValueError(f"--probe-size {cfg['probe_size']}: need at least 2 test images")
    return {"settings": cfg, "data": spec, "task": data.task, "targets": list(probe["train"][1]),
            "chance": 100.0 / int(probe["train"][1][data.task].max() + 1),
            "colours": bool(getattr(data, "colour_directions", None)), "views": values["views"],
            "labelled_fraction": cfg["labelled_fraction"]}


def resolve_device(accelerator: str) -> str:
    """``--trainer.accelerator`` (auto, cpu, gpu) as a torch device name; gpu without a visible
    CUDA device is an error."""
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ValueError("--trainer.accelerator gpu: no CUDA device is visible (use auto or cpu)")
    return str(device_of({"gpu": "cuda"}.get(accelerator, accelerator)))


def load_data(args, cfg: dict):
    size = args.image_size or IMAGE_SIZE.get(args.dataset, 32)
    if args.dataset == "shapes":
        return SplitShapes(size, labelled_fraction=cfg["labelled_fraction"])
    data = load_dataset(args.dataset, args.root, size, args.download,
                        unlabelled=args.dataset == "stl10")
    return ImageSetViews(data, cfg["labelled_fraction"])


def _subset(images, labels: dict, max_items: int, seed: int):
    keep = seeded_subset(len(images), max_items, seed)
    return images[keep], {t: y[keep] for t, y in labels.items()}


def _probe(generator, critic, probe: dict, seed: int) -> dict:
    (xtr, ytr), (xte, yte) = probe["train"], probe["test"]
    ftr, fte = embed(generator, critic, xtr), embed(generator, critic, xte)
    return {t: 100 * linear_probe(ftr, ytr[t], fte, yte[t], seed=seed)["top1"] for t in ytr}


def run_row(space: str, kind: str, data, probe: dict, cfg: dict, seed: int, run_dir: Path) -> dict:
    """Learn (or not) the views of one row, measure their I_NCE with fresh critics, train CMC
    encoders on them and probe; keeps generator and encoders in ``run_dir``."""
    t0 = time.process_time()
    device = torch.device(cfg.get("device", "cpu"))
    data.to(device)
    critic_kw = dict(num_classes=data.num_classes, width=cfg["width"], temperature=cfg["temperature"])
    test_images = probe["test"][0]
    batch = min(HELD_OUT_BATCH, len(test_images))
    torch.manual_seed(seed)
    generator = _generator(space, kind, cfg).to(device)
    curve, ce_curve, own, selection = [], [], None, {}
    if kind not in ("raw", "oracle"):
        critic = TwoViewCritic(**critic_kw).to(device)
        method = ViewLearning(generator, critic, kind, cfg["ce_weight"], ce_split=cfg["generator_ce"] == "held-out")
        schedule = Schedule(cfg["gen_steps"], cfg["batch_size"], generator_lr=cfg["generator_lr"],
                            critic_steps=cfg["critic_steps"], critic_warmup=cfg["critic_warmup"],
                            critic_reset=cfg.get("critic_reset", 0),
                            select_best=cfg["generator_select"] == "best" and kind != "supervised",
                            generator_optimizer=cfg["generator_optimizer"],
                            generator_schedule=cfg.get("generator_schedule", "constant"))
        history = train_views(method, data, schedule, seed=seed, selection=selection)
        curve, ce_curve = [h["i_nce"] for h in history], [h["ce"] for h in history]
        if kind != "supervised":  # the adversary's bound on the final views (its BN statistics re-estimated on them)
            refresh_batch_norm(generator, critic, data, cfg["batch_size"], seed=seed)
            own = held_out_bound(generator, critic, test_images, batch)
    # the CMC encoders are the first fresh critic: trained from scratch on the frozen views
    fresh, encoders = [], None
    for k in range(1 + cfg["fresh_critics"]):
        bound, critic = fresh_critic_bound(generator, data, test_images, critic_kw, cfg["cmc_steps"],
                                           seed=1000 * (k + 1) + seed, batch_size=cfg["batch_size"], eval_batch=batch)
        fresh.append(bound)
        encoders = encoders or critic
    accuracy = _probe(generator, encoders, probe, seed)
    torch.manual_seed(1000 + seed)  # the twin: the same encoders untrained, on this row's views
    random_init = _probe(generator, TwoViewCritic(**critic_kw).to(device), probe, seed)
    row = {"space": space, "views": kind, "seed": seed, "accuracy": accuracy, "random_init_accuracy": random_init,
           "i_nce_fresh": sum(fresh) / len(fresh), "i_nce_fresh_per_critic": fresh, "i_nce_own_critic": own,
           "generator_i_nce_curve": curve, "generator_ce_curve": ce_curve, "selection": selection or None,
           "cpu_seconds": time.process_time() - t0}
    directions = getattr(data, "colour_directions", None)
    if directions:  # what the generator kept and removed of each known colour (to first order)
        row["colour_snr"] = colour_snr(generator, directions)
    save_row(run_dir, generator.cpu(), encoders.cpu(), row, {**cfg, "space": space, "views": kind, "seed": seed,
                                                 "num_classes": data.num_classes}, test_images.shape[-1])
    return row


def _generator(space: str, kind: str, cfg: dict) -> ViewGenerator:
    """The row's generator: the raw colour space for the raw views, the hand-set oracle, else
    the configured flow."""
    if kind == "oracle":
        return oracle_generator(space)
    learned = kind != "raw"
    return ViewGenerator(space, cfg["layers"] if learned else 0, cfg["coupling"],
                         linear_layers=cfg.get("linear_layers", 0) if learned else 0)


def save_row(run_dir: Path, generator: ViewGenerator, encoders: TwoViewCritic, row: dict, cfg: dict,
             image_size: int) -> None:
    """A standard run folder that ``mvssl.load`` reads: ``encoder.pt`` (generator and CMC
    encoders as one backbone, ``methods.view_learning.LearnedViewsEncoder``), ``config.yaml`` and
    ``row.json`` (the row's numbers and settings)."""
    layers = {"raw": (0, 0), "oracle": (0, 1)}.get(cfg["views"], (cfg["layers"], cfg.get("linear_layers", 0)))
    method = {"name": "view-learning", "space": cfg["space"], "views": cfg["views"], "coupling": cfg["coupling"],
              "layers": layers[0], "linear_layers": layers[1],
              "num_classes": cfg["num_classes"], "width": cfg["width"], "temperature": cfg["temperature"]}
    config = {"method": method, "data": {"image_size": image_size}, "backbone": {"name": "convnet", "width": cfg["width"]}}
    pre = preprocessing(config)
    encoder = Encoder(LearnedViewsEncoder(generator, encoders, pre["mean"], pre["std"]), pre["image_size"], pre["mean"],
                      pre["std"], config)
    run_dir.mkdir(parents=True, exist_ok=True)
    encoder.save(run_dir / "encoder.pt")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "row.json").write_text(json.dumps({"config": cfg, "row": row}))


_DATA: dict = {}  # data spec -> (data, probe), built once per process


def data_and_probe(spec: tuple):
    """The training data and the probe's fixed subsets for ``spec`` (cached per process)."""
    if spec not in _DATA:
        dataset, root, image_size, download, fraction, probe_size = spec
        args = SimpleNamespace(dataset=dataset, root=root, image_size=image_size, download=download)
        data = load_data(args, {"labelled_fraction": fraction})
        probe = {split: _subset(*images_labels, probe_size, 0) for split, images_labels in data.probe_sets().items()}
        _DATA[spec] = data, probe
    return _DATA[spec]


def train_row(config: dict, run_dir: Path, space: str, kind: str, data: list, settings: dict) -> dict:
    """The study's stage: one row (:func:`run_row`) for the seed of ``config``, on the data that
    ``data`` (:func:`_data_spec`) names, with the experiment's ``settings``."""
    seed = config["trainer"]["seed"]
    pool, probe = data_and_probe(tuple(data))
    row = run_row(space, kind, pool.for_seed(seed), probe, settings, seed, run_dir)
    return {"row": row, "task": pool.task}


def row_value(run, key: str, task: str | None = None) -> float | None:
    """The study's measures, read from the row: ``accuracy`` of ``task`` (the random-init twin's
    for ``random init``), else the row's (dotted) ``key``: ``i_nce_fresh``, ``i_nce_own_critic``,
    ``colour_snr.view1.nuisance`` (None for the twin, and where the row has none: the own critic
    of views learnt without an adversary, the colour SNR of data without known colours)."""
    row = run.metrics["row"]
    if key == "accuracy":
        values = row["accuracy" if run.which == "trained" else "random_init_accuracy"]
        return values[task] if values else None
    value = row if run.which == "trained" else None
    for part in key.split("."):  # colour_snr.view1.nuisance
        value = value.get(part) if isinstance(value, dict) else None
    return value


def plot_curves(out: Path, points: list[dict]) -> list[str]:
    """The generator's own critic's I_NCE over its training, mean over seeds, per learned arm."""
    with figure(out / "view_learning.png", 1, (7, 4)) as (fig, (ax,)):
        for p in points:
            curves = [json.loads((out / r / "row.json").read_text())["row"]["generator_i_nce_curve"] for r in p["runs"]]
            curves = [[v for v in c if v == v] for c in curves if c]
            if curves:
                n = min(len(c) for c in curves)
                ax.plot([sum(c[i] for c in curves) / len(curves) for i in range(n)], label=p["arm"])
        ax.set(xlabel="generator step", ylabel="I_NCE(v1; v2), own critic (nats)",
               title="The adversarial critic's bound during generator training")
        ax.legend(fontsize=7)
    return ["view_learning.png"]
