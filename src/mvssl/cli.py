"""``mvssl train | eval | experiment | study | info | bench | data``: the command line.

``experiment``, ``info`` and ``bench`` are command groups filled from packages: every module of
``mvssl.experiments`` (or ``mvssl.info``, ``mvssl.bench``) that defines ``COMMAND`` (its name),
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` becomes ``mvssl GROUP COMMAND``.
A new experiment is a new module; nothing here changes. A group lists its commands without importing
them (``listed_commands``), so only the command named is imported, and a group's --help no torch.

Imports inside functions are for two things only: heavy optional dependencies (matplotlib, umap,
timm, torchvision's datasets, wandb/tensorboard loggers, safetensors, ...), and here, a command's
own modules, imported when it runs, so that ``mvssl --help`` and ``mvssl eval --help`` load no
torch (``scripts/lazy_imports.py`` classifies every import inside a function)."""
from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from .config import SCHEMA, ConfigError, deep_update
from .config_text import load_yaml, parse_overrides
from .eval.options import (BACKBONE_LR_SCALE, CORRUPTIONS, EPISODES, FINETUNE_BATCH, FINETUNE_LR, FINETUNE_STEPS,
                           KNN_CHUNK, KNN_K, KNN_TEMPERATURE, LAYER_DECAY, MAP_METHODS, QUERIES, SHOTS, WAYS)

TRAIN_HELP = """Train a method; with no arguments, SimCLR on Colorful-Moving-MNIST with views that
share the digit. Any config value can be overridden as --section.key value, e.g.
--optim.lr 0.001 --trainer.max_steps 500 --views.shared digit,position --method simclr.
See configs/default.yaml for every key.

--resume RUN_DIR continues a killed or stopped run exactly, from its newest complete
checkpoint and with its saved config; only keys that do not change the computation
(e.g. --trainer.on_nan skip, --trainer.progress false, --eval.enabled false) may be
given beside it. See docs/reliability.md.

--init-from RUN starts a new run from RUN's weights (same backbone, any data);
--backbone.weights FILE starts from a torchvision, timm, Hugging Face or safetensors
state dict. See docs/domain.md."""


def _cmd_train(args, extra: list[str]) -> int:
    from .train import train

    if args.resume:
        if args.config:
            raise ConfigError("--resume continues a run with its saved config; drop --config")
        if args.init_from:
            raise ConfigError(f"--resume {args.resume} continues that run exactly; --init-from {args.init_from} starts a "
                              "new run from a run's weights: give one")
        if args.seeds is not None:
            raise ConfigError(f"--seeds {args.seeds} trains new runs; a batched run writes no checkpoints: resume "
                              f"one seed's folder alone with --resume RUN (it trains that seed again from step 0)")
        train(parse_overrides(extra), resume=args.resume)
        return 0
    user = load_yaml(args.config) if args.config else {}
    user = deep_update(user, parse_overrides(extra))
    if args.init_from:
        user = deep_update(user, {"trainer": {"init_from": args.init_from}})
    if args.seeds is not None:
        from .train.seeds import seed_configs, train_seeds

        train_seeds(seed_configs(user, args.seeds))
        return 0
    train(user)
    return 0


def _cmd_eval(args, extra: list[str]) -> int:
    _refuse_data_options(f"eval {args.protocol}", extra, "it probes the encoder's own Colorful-Moving-MNIST frames")
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    from .eval.commands import run_protocol

    run_protocol(args)
    return 0


EXPORT_HELP = ("export a trained encoder: ONNX or TorchScript (uint8 images at the encoder's size in, features "
               "out, checked against Encoder.embed) or safetensors weights")


def _export_parser(sub) -> None:
    """``mvssl export``'s options, here so that its --help imports no torch (``export.py`` does)."""
    p = sub.add_parser("export", help=EXPORT_HELP, description=EXPORT_HELP)
    p.add_argument("run", help="run folder, encoder.pt or checkpoint")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "safetensors"],
                   help="onnx, torchscript or safetensors")
    p.add_argument("--out", help="file to write (default: RUN/export/encoder.EXT)")
    p.add_argument("--tokens", action="store_true", help="dense features (ViT patch tokens, convnet feature maps) "
                   "instead of one vector per image")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args, extra: list[str]) -> int:
    from . import export

    return _run_command(export, args, extra, "export")


def _eval_parsers(sub) -> None:
    DATASETS = SCHEMA["data"]["dataset"].rule  # the config's names, not the loaders: mvssl eval --help imports no torch

    encoder = argparse.ArgumentParser(add_help=False)  # every protocol
    encoder.add_argument("run", help="run folder, encoder.pt or checkpoint")
    encoder.add_argument("--out", help="folder for the JSON and markdown (default: RUN_FOLDER/eval), "
                         "or FILE.json (markdown beside it as FILE.md)")
    encoder.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (embedding and kNN)")
    data = argparse.ArgumentParser(add_help=False)  # protocols that read a labelled dataset
    data.add_argument("--dataset", choices=DATASETS,
                      help="default: the dataset the run trained on; cmnist: the encoder's Colorful-Moving-MNIST; "
                      "folder: an ImageFolder at --root")
    data.add_argument("--root", help="where torchvision datasets or the image folder live (default: the run's own "
                      "data.root when --dataset is its dataset, else data)")
    data.add_argument("--download", action="store_true", help="fetch a torchvision dataset if missing")
    data.add_argument("--image-size", type=int, help="resize images to this side (folder default: the "
                      "encoder's image size; others keep their own size)")
    data.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of skipping")
    data.add_argument("--in-memory", default="auto", choices=["auto", "true", "false"],
                      help="folder, stl10: decode all images up front (true) or stream them from disk in batches "
                      "(false); auto: in memory when they fit --memory-budget-gb")
    data.add_argument("--memory-budget-gb", type=float, help="--in-memory auto: GiB the decoded images may take "
                      "(default: a quarter of the RAM)")
    data.add_argument("--workers", type=int, help="streaming: decoding processes (default: the cores - 1, at most 8)")
    data.add_argument("--classes-file", help="folder: a text file listing the class folders to keep")
    data.add_argument("--target", default="digit", choices=["digit", "background"], help="cmnist label")
    data.add_argument("--no-cache", action="store_true", help="recompute features, write no cache")
    data.add_argument("--batch-size", type=int, default=500, help="images per embedding batch")
    data.add_argument("--seed", type=int, default=0, help="validation split, episodes, noise, subsets")
    common = [encoder, data]

    ev = sub.add_parser("eval", help=EVAL_HELP,
                        description="Evaluate a frozen encoder; see docs/evaluation.md for each protocol.")
    protocols = ev.add_subparsers(dest="protocol", required=True)
    protocols.add_parser("linear", parents=common, help="logistic-regression probe (top-1, top-5)")
    for name, helptext in (("knn", "weighted cosine kNN"),
                           ("probes", "Colorful-Moving-MNIST factor probes (digit, background, position) of an "
                                      "encoder trained on Colorful-Moving-MNIST; its own frames, no data options")):
        p = protocols.add_parser(name, parents=common if name == "knn" else [encoder], help=helptext,
                                 description=helptext)
        p.add_argument("--k", type=int, default=KNN_K, help=f"kNN neighbours (DINO default {KNN_K})")
        p.add_argument("--temperature", type=float, default=KNN_TEMPERATURE,
                       help=f"kNN temperature (DINO default {KNN_TEMPERATURE})")
        if name == "knn":
            p.add_argument("--chunk-size", type=int, default=KNN_CHUNK,
                           help=f"test features per similarity block (default {KNN_CHUNK})")
        else:  # the probes read the encoder's own rendered frames: the data options' defaults but these
            p.set_defaults(**{**vars(data.parse_args([])), "dataset": "cmnist", "root": "data", "no_cache": True})
    fs = protocols.add_parser("fewshot", parents=common, help="N-way K-shot episodes, cosine prototypes")
    fs.add_argument("--ways", type=int, default=WAYS, help=f"classes per episode (default {WAYS})")
    fs.add_argument("--shots", type=int, nargs="+", default=list(SHOTS),
                    help=f"labelled support items per class; one result per value (default {' '.join(map(str, SHOTS))})")
    fs.add_argument("--queries", type=int, default=QUERIES,
                    help=f"query items per class per episode (default {QUERIES}); a class needs shots + queries "
                         "test items")
    fs.add_argument("--episodes", type=int, default=EPISODES,
                    help=f"episodes per shot value, averaged with a 95%% interval (default {EPISODES})")
    ft = protocols.add_parser("finetune", parents=common, help="train the whole backbone with a linear head; beside the "
                              "linear probe and training from scratch on the same budget", description=(
                                  "Fine-tune the encoder's backbone with a linear head (seeded 80/20 split of the "
                                  "training images to choose the step, AdamW, warm-up + cosine; the backbone at "
                                  "--backbone-lr-scale times the head's rate), and report it beside the linear probe "
                                  "and the same architecture trained from scratch for the same steps "
                                  "(docs/evaluation.md)."))
    ft.add_argument("--steps", type=int, default=FINETUNE_STEPS, help=f"training steps (default {FINETUNE_STEPS})")
    ft.add_argument("--lr", type=float, default=FINETUNE_LR, help=f"the head's learning rate (default {FINETUNE_LR:g})")
    ft.add_argument("--backbone-lr-scale", type=float, default=BACKBONE_LR_SCALE,
                    help=f"the backbone's learning rate relative to the head's (default {BACKBONE_LR_SCALE:g})")
    ft.add_argument("--layer-decay", type=float, default=LAYER_DECAY,
                    help="< 1: each earlier backbone layer's rate scaled down by this factor once more (default 1)")
    ft.add_argument("--train-batch", type=int, default=FINETUNE_BATCH,
                    help=f"images per training step (default {FINETUNE_BATCH})")
    ft.add_argument("--max-train", type=int, help="fine-tune on a seeded subset of this many labelled images")
    ft.add_argument("--flip", action="store_true", help="random horizontal flips while training")
    ft.add_argument("--no-scratch", action="store_true", help="skip the from-scratch reference")
    rb = protocols.add_parser("robustness", parents=common, help="accuracy under corruptions, mCE")
    rb.add_argument("--reference", help="reference encoder for mCE (default: random init, same architecture)")
    rb.add_argument("--corruptions", nargs="+", default=list(CORRUPTIONS), choices=CORRUPTIONS,
                    help="corruptions to apply, each at 5 severities (default: all)")
    rb.add_argument("--max-test", type=int, help="corrupt a seeded subset of this many test images")
    em = protocols.add_parser("embed", parents=common, help="2-D map of test embeddings as PNG")
    em.add_argument("--method", default="auto", choices=MAP_METHODS, help="auto: UMAP, else t-SNE, else PCA")
    em.add_argument("--max-points", type=int, default=2000, help="seeded subset of test embeddings to map")
    ev.set_defaults(func=_cmd_eval)


COMMAND_GROUPS = {
    "experiment": ("mvssl.experiments", "run one of the papers' experiments; its tables and plots go in a run folder"),
    "study": ("mvssl.studies.commands", "run, check or report a study: arms x seeds, measures, gates, predictions "
              "(docs/studies.md)"),
    "info": ("mvssl.info", "information estimates: I_NCE of a view pair, entropy/reconstruction of an encoder"),
    "bench": ("mvssl.bench", "measure this machine: matmul peak, training and views throughput, memory"),
    "data": ("mvssl.data.commands", "prepare data: pack an image folder into WebDataset shards (docs/data.md)"),
}


def command_modules(package: str) -> list:
    """The modules of ``package`` that define a command (see the module docstring), by name."""
    try:
        pkg = importlib.import_module(package)
    except ModuleNotFoundError:
        return []
    modules = [importlib.import_module(f"{package}.{info.name}") for info in pkgutil.iter_modules(pkg.__path__)]
    return sorted((m for m in modules if hasattr(m, "COMMAND")), key=lambda m: m.COMMAND)


def literal_listing(package) -> list[tuple[str, str | None, str | None]]:
    """``(module, COMMAND, HELP)`` of each module of ``package`` that sets ``COMMAND``, read from its text
    without importing it; None where a value is not a string literal (the command line imports that one)."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        path, values = Path(package.__path__[0]) / f"{info.name}.py", {}
        for node in ast.parse(path.read_text(), str(path)).body if path.is_file() else []:
            for target in getattr(node, "targets", []):
                if isinstance(target, ast.Name) and target.id in ("COMMAND", "HELP"):
                    values[target.id] = node.value.value if isinstance(node.value, ast.Constant) else None
        if "COMMAND" in values:
            found.append((info.name, values["COMMAND"], values.get("HELP")))
    return found


def listed_commands(package: str, named: str | None) -> list:
    """The command modules of ``package`` (``command_modules``), listed without importing them (the package's
    own ``listing()``, as ``mvssl.experiments`` has, else ``literal_listing``): only the one ``named`` is
    imported and the others are ``(COMMAND, HELP)`` pairs, so ``mvssl bench --help`` imports no benchmark
    (nor torch), ``mvssl experiment NAME`` only NAME's module."""
    pkg = importlib.import_module(package)
    out = []
    for module, command, helptext in getattr(pkg, "listing", lambda: literal_listing(pkg))():
        if command is None or helptext is None or command == named:
            loaded = importlib.import_module(f"{package}.{module}")
            if hasattr(loaded, "COMMAND"):
                out.append(loaded)
        else:
            out.append((command, helptext))
    return sorted(out, key=lambda m: m[0] if isinstance(m, tuple) else m.COMMAND)


def _group_parsers(sub, only: str | None = None, named: str | None = None) -> None:
    for group, (package, helptext) in COMMAND_GROUPS.items():
        if only is not None and group != only:  # another command runs: no need to import this group
            sub.add_parser(group, help=helptext, description=helptext)
            continue
        try:
            modules = command_modules(package) if only is None else listed_commands(package, named)
        except ModuleNotFoundError:
            modules = []
        if not modules:
            continue
        gp = sub.add_parser(group, help=helptext, description=helptext)
        commands = gp.add_subparsers(dest="subcommand", required=True)
        for module in modules:
            if isinstance(module, tuple):  # listed, not imported: another command of the group runs
                commands.add_parser(module[0], help=module[1], description=module[1])
                continue
            p = commands.add_parser(module.COMMAND, help=module.HELP, description=module.HELP)
            module.add_arguments(p)
            p.set_defaults(func=lambda args, extra, m=module, g=group: _run_command(m, args, extra, g))


DATA_OPTIONS = ("--dataset", "--root", "--download", "--strict", "--image-size", "--in-memory", "--memory-budget-gb",
                "--workers", "--classes-file")
# why a command without data options has none (a module may say it itself, as ``DATA_REFUSAL``)
GROUP_DATA = {"experiment": "it runs on Colorful-Moving-MNIST only, whose rendered factors its claims are about",
              "bench": "it measures this machine on generated images"}


def _refuse_data_options(command: str, extra: list[str], why: str) -> None:
    data = [a.split("=")[0] for a in extra if a.split("=")[0] in DATA_OPTIONS]
    if data:
        raise ConfigError(f"mvssl {command} takes no {', '.join(data)}: {why}")


def _run_command(module, args, extra: list[str], group: str = "") -> int:
    _refuse_data_options(f"{group} {module.COMMAND}", extra,
                         getattr(module, "DATA_REFUSAL", GROUP_DATA.get(group, "it has no data options")))
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    return module.run(args)


EVAL_HELP = "evaluate a trained encoder"


def build_parser(command: str | None = None, subcommand: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command`` ("" for none), only that command is built in
    full and the others are one help line each, so ``mvssl --help`` or ``mvssl train`` import
    none of the modules the other commands need (the parser of every experiment, benchmark
    and evaluation pulls in torch); in a group that lists its commands without importing them,
    only ``subcommand`` is built in full (``listed_commands``)."""
    parser = argparse.ArgumentParser(prog="mvssl", description="Multi-view self-supervised learning.")
    parser.add_argument("--version", action="version", version=f"mvssl {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a method", description=TRAIN_HELP)
    tr.add_argument("--config", help="YAML file with config sections (overrides come on top)")
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its newest complete checkpoint")
    tr.add_argument("--init-from", metavar="RUN", help="start a NEW run from this finished run's backbone (and the "
                    "method heads that match): continue pretraining on other data (docs/domain.md)")
    tr.add_argument("--seeds", type=int, metavar="K", help="train seeds trainer.seed .. +K-1 as one batched model "
                    "(SimCLR or BYOL, convnet), each into its own run folder NAME-seedS (docs/performance.md)")
    tr.epilog = ("--section.key value: any config key (configs/default.yaml lists them all, "
                 "--data.dataset folder --data.root DIR trains on your own images)")
    tr.set_defaults(func=_cmd_train)
    if command is None or command == "export":
        _export_parser(sub)
    else:
        sub.add_parser("export", help="export a trained encoder (onnx, torchscript, safetensors)")
    if command is None or command == "eval":
        _eval_parsers(sub)
    else:
        sub.add_parser("eval", help=EVAL_HELP, description=EVAL_HELP)
    _group_parsers(sub, command, subcommand)
    return parser


def os_error_message(err: OSError) -> str:
    """One line for a failed file operation: what failed, on which path."""
    if err.errno is None or not err.strerror:
        return str(err)
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
    return f"{err.strerror}: {paths}" if paths else err.strerror


def _one_line_warnings() -> None:
    """mvssl's own warnings (a class folder without images, links listed once, ...) as one
    ``mvssl: warning: ...`` line, not Python's two lines with the source file and code."""
    show = warnings.showwarning
    if getattr(show, "mvssl_one_line", False):
        return

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}mvssl{os.sep}" in str(filename) and issubclass(category, UserWarning):
            print(f"mvssl: warning: {message}", file=sys.stderr if file is None else file)
        else:
            show(message, category, filename, lineno, file, line)

    showwarning.mvssl_one_line = True
    warnings.showwarning = showwarning


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _one_line_warnings()
    words = [a for a in argv if not a.startswith("-")] + ["", None]  # the command, and a group's command
    parser = build_parser(words[0], words[1])
    args, extra = parser.parse_known_args(argv)
    try:
        return args.func(args, extra)
    except (ConfigError, ValueError) as err:
        print(f"mvssl: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a missing file, a read-only folder, a full disk, a locked run folder
        print(f"mvssl: error: {os_error_message(err)}", file=sys.stderr)
        return 2
    except FloatingPointError as err:  # a non-finite loss: the run stopped, its checkpoints are kept
        print(f"mvssl: training stopped: {err}", file=sys.stderr)
        return 3
    except Exception as err:
        from .train.preemption import EXIT_CODE, Preempted

        if not isinstance(err, Preempted):
            raise
        if err.rank == 0:  # every process stops (exit 143); the first one says so
            print(f"mvssl: {err}" + (f" ({err.requeued})" if err.requeued else ""), file=sys.stderr)
        return EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
