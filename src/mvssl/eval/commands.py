"""The ``mvssl eval PROTOCOL RUN`` commands: each returns (result, title, markdown table);
``run_protocol`` loads the encoder and data, runs one, writes JSON + markdown and prints."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..data.datasets import LabelledImages
from ..data.files import FileSplits
from ..data.streaming import image_batches, resolve_workers
from ..data.splits import seeded_subset
from ..encoder import Encoder, load
from .corruptions import SEVERITIES
from .embed import plot_map, project_2d
from .features import DatasetSpec, cached_features
from .finetune import finetune as train_whole
from .fewshot import fewshot_eval
from .knn import knn_accuracy
from .linear import fit_linear_classifier, linear_probe, topk_accuracy
from .probes import factor_probes, format_table, probe_frames
from .robustness import CHUNK, corruption_errors, in_chunks, mean_corruption_error
from .report import markdown_table, write_report


def run_folder(path: str | Path) -> Path:
    """The run folder of a run folder, an ``encoder.pt`` or a ``checkpoints/*.ckpt``."""
    path = Path(path)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def data_of_run(config: dict, dataset: str | None, root: str | None) -> tuple[str, str, str | None]:
    """(dataset, root, what to say when the run chose them): ``--dataset`` and ``--root`` as
    given, otherwise the dataset the run trained on and, for that dataset, its ``data.root``
    (from the encoder's saved config; Colorful-Moving-MNIST for an encoder without one)."""
    data = config.get("data", {})
    trained_on, trained_root = data.get("dataset", "cmnist"), data.get("root", "data")
    if dataset is not None and dataset != trained_on:
        if dataset == "folder" and root is None:
            raise ValueError(f"--dataset folder needs --root DIR (the run trained on {trained_on}, so it has no image "
                             "folder of its own)")
        return dataset, root or "data", None
    chosen = [what for what, given in (("dataset", dataset), ("root", root)) if given is None]
    root = root or trained_root
    if not chosen or trained_on == "cmnist":  # cmnist: the encoder's own frames, as ever (the report says so)
        return trained_on, root, None
    return trained_on, root, (f"{trained_on} at {Path(root).resolve()}: the run's own {' and '.join(chosen)} "
                              "(--dataset and --root choose others)")


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when present), or a device this machine has; ``ValueError`` in one line otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"--device {name}: torch sees {torch.cuda.device_count() if torch.cuda.is_available() else 0} "
                         "CUDA GPU(s) on this machine; use auto or cpu")
    return device


class Context:
    """The encoder, the dataset and the switches one command runs with; images load lazily, once."""

    def __init__(self, args):
        self.args = args
        self.device = resolve_device(args.device)
        self.encoder = load(args.run).to(self.device)
        dataset, root, note = data_of_run(self.encoder.config, args.dataset, args.root)
        if note and args.protocol != "probes":
            print(f"mvssl: evaluating on {note}", file=sys.stderr)
        self.spec = DatasetSpec(dataset, root, args.image_size, args.target, args.classes_file)
        self.in_memory = {"true": True, "false": False}.get(args.in_memory, args.in_memory)
        self.workers = resolve_workers(args.workers)
        folder = run_folder(args.run) / "eval"
        out = Path(args.out) if args.out else folder
        # --out FILE.json names the JSON (markdown beside it); --out DIR takes the default names
        self.out_dir, self.out_stem = (out.parent, out.stem) if out.suffix == ".json" else (out, None)
        self.cache_dir = None if args.no_cache else folder / "features"
        self._images: LabelledImages | FileSplits | None = None
        self._skips_reported = False

    def images(self) -> LabelledImages | FileSplits:
        """The dataset, decoded in memory or (``--in-memory``) left on disk to stream."""
        if self._images is None:
            self._images = self.spec.load(self.encoder, self.args.download, self.args.strict, self.in_memory,
                                          self.args.memory_budget_gb)
            if len(self._images.classes) < 2:
                why = "has no class folders" if not self._images.classes else "has one class folder"
                raise ValueError(f"{self.spec.root} {why}: no labels to evaluate with; point --dataset folder --root "
                                 "at labelled images (DIR/<class>/<image>, two classes or more)")
        return self._images

    def features(self, encoder: Encoder | None = None) -> dict:
        feats = cached_features(encoder or self.encoder, self.spec, self.cache_dir, self.images,
                                self.args.batch_size, self.workers)
        if feats["skipped"] and self.args.strict:  # features cached by an earlier, lenient run
            raise ValueError(f"unreadable image {feats['skipped'][0]} (and {len(feats['skipped']) - 1} more)")
        if feats["skipped"] and not self._skips_reported:  # once, however many encoders read the images
            self._skips_reported = True
            print(f"mvssl: skipped {len(feats['skipped'])} unreadable image(s), e.g. {feats['skipped'][0]} "
                  "(--strict fails instead)", file=sys.stderr)
        return feats

    def header(self, protocol: str, feats: dict) -> dict:
        return {"protocol": protocol, "encoder": str(self.args.run), "dataset": self.spec.name,
                **({"target": self.spec.target} if self.spec.name == "cmnist" else {"root": self.spec.root}),
                "num_classes": len(feats["classes"]), "num_train": len(feats["train_y"]),
                "num_test": len(feats["test_y"]), "skipped_images": len(feats["skipped"]),
                "feature_cache": feats["cache"]}

    def stem(self, protocol: str) -> str:
        if self.out_stem:
            return self.out_stem
        if protocol == "probes":
            return protocol
        return f"{protocol}-{self.spec.name}" + (f"-{self.spec.target}" if self.spec.name == "cmnist" else "")


def pct(x: float) -> float:
    return 100.0 * x


def linear(ctx: Context):
    f = ctx.features()
    res = linear_probe(f["train_x"], f["train_y"], f["test_x"], f["test_y"], seed=ctx.args.seed)
    result = {**ctx.header("linear", f), **res}
    row = [ctx.spec.name, pct(res["top1"]), pct(res["top5"]) if "top5" in res else "-", f"{res['l2']:g}"]
    return result, "Linear probe (logistic regression, frozen features)", markdown_table(
        ["dataset", "top-1 (%)", "top-5 (%)", "chosen L2"], [row])


def knn(ctx: Context):
    a, f = ctx.args, ctx.features()
    top1 = knn_accuracy(f["train_x"], f["train_y"], f["test_x"], f["test_y"], a.k, a.temperature, a.chunk_size,
                        ctx.device)
    result = {**ctx.header("knn", f), "top1": top1, "k": a.k, "temperature": a.temperature,
              "chunk_size": a.chunk_size, "device": str(ctx.device)}
    return result, "Weighted cosine kNN", markdown_table(
        ["dataset", "k", "T", "top-1 (%)"], [[ctx.spec.name, a.k, f"{a.temperature:g}", pct(top1)]])


def fewshot(ctx: Context):
    a, f = ctx.args, ctx.features()
    runs = [fewshot_eval(f["test_x"], f["test_y"], a.ways, k, a.queries, a.episodes, a.seed) for k in a.shots]
    result = {**ctx.header("fewshot", f), "split": "test", "classifier": "cosine prototypes", "results": runs}
    rows = [[f"{r['ways']}-way {r['shots']}-shot", r["episodes"], f"{pct(r['accuracy']):.2f} ± {pct(r['ci95']):.2f}"]
            for r in runs]
    return result, "Few-shot episodes on test features (cosine prototypes, mean ± 95% interval)", markdown_table(
        ["episodes of", "episodes", "accuracy (%)"], rows)


def reference_encoder(ctx: Context) -> tuple[Encoder, str]:
    if ctx.args.reference:
        return load(ctx.args.reference).to(ctx.device), str(ctx.args.reference)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ctx.args.seed)
        return Encoder.from_config(ctx.encoder.config).eval().to(ctx.device), "random init"


def test_chunks(ctx: Context, skipped: list[str], keep: torch.Tensor, chunk: int = CHUNK):
    """(uint8 images, labels) of the readable test images ``keep`` indexes, ``chunk`` at a
    time: sliced from memory, or streamed from disk."""
    data = ctx.images()
    if isinstance(data, LabelledImages):
        return in_chunks(data.test_images[keep], data.test_labels[keep], chunk)
    unreadable = set(skipped)
    readable = [i for i in range(len(data.test)) if data.test.name(i) not in unreadable]
    files = data.test.subset(torch.tensor(readable, dtype=torch.int64)[keep])
    return ((b["images"], b["labels"]) for b in image_batches(files, chunk, ctx.workers))


def robustness(ctx: Context):
    a = ctx.args
    reference, ref_name = reference_encoder(ctx)
    encoders = {"encoder": ctx.encoder, "reference": reference}
    feats = {name: ctx.features(enc) for name, enc in encoders.items()}
    probes = {name: fit_linear_classifier(f["train_x"], f["train_y"], len(f["classes"]), seed=a.seed)
              for name, f in feats.items()}
    keep = seeded_subset(len(feats["encoder"]["test_y"]), a.max_test, a.seed)
    clean = {name: 1 - topk_accuracy(probes[name].logits(f["test_x"][keep]), f["test_y"][keep])
             for name, f in feats.items()}
    errors = corruption_errors(encoders, probes, test_chunks(ctx, feats["encoder"]["skipped"], keep),
                               a.corruptions, SEVERITIES, a.seed)
    mce = mean_corruption_error(errors["encoder"], errors["reference"])
    result = {**ctx.header("robustness", feats["encoder"]), "reference": ref_name, "num_corrupted": len(keep),
              "clean_error": clean, "errors": errors, **mce}
    rows = [[c, *(pct(1 - errors["encoder"][c][s]) for s in SEVERITIES), mce["ce"][c]] for c in a.corruptions]
    table = markdown_table(["corruption", *(f"sev {s} acc (%)" for s in SEVERITIES), "CE (%)"], rows)
    table += (f"\n\nClean accuracy {pct(1 - clean['encoder']):.2f}% (reference {pct(1 - clean['reference']):.2f}%). "
              f"mCE = {mce['mce']:.1f}% relative to {ref_name} (100% = as robust as the reference).")
    return result, "Robustness to corruptions (linear probe trained on clean features)", table


def probes(ctx: Context):
    a = ctx.args
    trained_on = ctx.encoder.config.get("data", {}).get("dataset", "cmnist")
    if trained_on != "cmnist":
        raise ValueError(f"the factor probes read digit, background and position from Colorful-Moving-MNIST frames: "
                         f"{a.run} was trained on {trained_on}, whose images have none of them; use mvssl eval linear "
                         f"or knn with --dataset {trained_on}" + (" --root DIR" if trained_on == "folder" else ""))
    result = factor_probes(ctx.encoder, probe_frames(ctx.encoder.config["data"]), a.k, a.temperature)
    return ({"protocol": "probes", "encoder": str(a.run), "dataset": "cmnist", **result},
            "Colorful-Moving-MNIST factor probes", format_table({str(a.run): result}))


def embed(ctx: Context):
    a, f = ctx.args, ctx.features()
    keep = seeded_subset(len(f["test_y"]), a.max_points, a.seed)
    coords, method = project_2d(f["test_x"][keep], a.method, a.seed)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    png = ctx.out_dir / f"{ctx.stem('embed')}.png"
    plot_map(coords, f["test_y"][keep], f["classes"], png, f"{a.run} · {ctx.spec.name} test · {method}")
    result = {**ctx.header("embed", f), "method": method, "points": len(keep), "png": str(png)}
    return result, "2-D map of test embeddings", f"{method} of {len(keep)} test embeddings: ![map]({png.name})"


def finetune(ctx: Context):
    a = ctx.args
    data = ctx.images()
    if not isinstance(data, LabelledImages):
        raise ValueError("mvssl eval finetune trains on images in memory: use --in-memory true (or auto with a larger "
                         "--memory-budget-gb)")
    keep = seeded_subset(len(data.train_labels), a.max_train, a.seed)
    train_x, train_y = data.train_images[keep], data.train_labels[keep]
    enc = ctx.encoder
    dim = enc.embed(data.train_images[:2]).shape[1]
    common = dict(num_classes=len(data.classes), preprocess=enc.preprocess, train_x=train_x, train_y=train_y,
                  test_x=data.test_images, test_y=data.test_labels, steps=a.steps, lr=a.lr,
                  batch_size=a.train_batch, flip=a.flip, seed=a.seed, device=ctx.device)
    rows, result = [], {"protocol": "finetune", "encoder": str(a.run), "dataset": ctx.spec.name,
                        "num_classes": len(data.classes), "num_train": len(train_y), "num_test": len(data.test_labels)}
    result["finetune"] = train_whole(enc.backbone, dim, backbone_lr_scale=a.backbone_lr_scale,
                                     layer_decay=a.layer_decay, **common)
    rows.append([f"fine-tune (backbone lr x{a.backbone_lr_scale:g}"
                 + (f", layer decay {a.layer_decay:g}" if a.layer_decay != 1 else "") + ")",
                 pct(result["finetune"]["top1"]), pct(result["finetune"]["val_top1"]), a.steps])
    feats = ctx.features()
    probe = linear_probe(feats["train_x"][keep], feats["train_y"][keep], feats["test_x"], feats["test_y"],
                         seed=a.seed)
    result["linear"] = {"top1": probe["top1"], "l2": probe["l2"]}
    rows.append(["linear probe (frozen backbone)", pct(probe["top1"]), "-", "L-BFGS"])
    if not a.no_scratch:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(a.seed)
            scratch = Encoder.from_config(enc.config).backbone
        result["scratch"] = train_whole(scratch, dim, backbone_lr_scale=1.0, layer_decay=1.0, **common)
        rows.append(["from scratch (same architecture, same steps, backbone lr x1)", pct(result["scratch"]["top1"]),
                     pct(result["scratch"]["val_top1"]), a.steps])
    return result, "Fine-tuning against the linear probe and training from scratch (top-1 on the test split)", \
        markdown_table(["protocol", "test top-1 (%)", "held-out top-1 (%)", "steps"], rows)


PROTOCOLS = {"finetune": finetune, "linear": linear, "knn": knn, "fewshot": fewshot, "robustness": robustness, "probes": probes,
             "embed": embed}


# (option, smallest sensible value, why): numbers that parse but would mean nothing
BOUNDS = (("k", 1, "kNN needs at least one neighbour"), ("chunk_size", 1, "a block holds at least one test feature"),
          ("batch_size", 1, "a batch holds at least one image"),
          ("image_size", 8, "the encoder resizes to its own size anyway; a few pixels carry nothing to probe"),
          ("ways", 2, "an episode tells at least two classes apart"), ("queries", 1, "a class needs a query"),
          ("episodes", 1, "at least one episode"), ("max_test", 1, "at least one test image"),
          ("max_points", 2, "a map of fewer than two points shows nothing"),
          ("workers", 0, "0 decodes in this process"), ("steps", 1, "training takes at least one step"),
          ("train_batch", 2, "a batch of one image gives BatchNorm nothing to normalise over"),
          ("max_train", 2, "a split needs at least two labelled images"),
          ("backbone_lr_scale", 0, "a negative learning rate climbs the loss"))


def check_arguments(args) -> None:
    """One line and exit 2 for an option outside its sensible range, before anything loads."""
    for name, least, why in BOUNDS:
        value = getattr(args, name, None)
        if value is not None and value < least:
            raise ValueError(f"--{name.replace('_', '-')} {value}: must be at least {least} ({why})")
    decay = getattr(args, "layer_decay", None)
    if decay is not None and not 0 < decay <= 1:
        raise ValueError(f"--layer-decay {decay}: must be in (0, 1] (1: every backbone layer at the same rate)")
    for name in ("temperature", "memory_budget_gb", "lr"):
        value = getattr(args, name, None)
        if value is not None and not value > 0:
            raise ValueError(f"--{name.replace('_', '-')} {value}: must be > 0")
    shots = getattr(args, "shots", None) or []
    if any(k < 1 for k in shots):
        raise ValueError(f"--shots {' '.join(map(str, shots))}: each must be at least 1 labelled item per class")


def run_protocol(args) -> dict:
    check_arguments(args)
    ctx = Context(args)
    result, title, table = PROTOCOLS[args.protocol](ctx)
    json_path, md_path = write_report(ctx.out_dir, ctx.stem(args.protocol), result, title, table)
    print(f"{title}\n\n{table}\n\nwrote {json_path} and {md_path}")
    return result
