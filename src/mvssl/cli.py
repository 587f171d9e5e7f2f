"""``mvssl train | eval``: the command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ConfigError, deep_update, load_yaml, parse_overrides

TRAIN_HELP = """Train a method; with no arguments, SimCLR on Colorful-Moving-MNIST with views that
share the digit. Any config value can be overridden as --section.key value, e.g.
--optim.lr 0.001 --trainer.max_steps 500 --views.shared digit,position --method simclr.
See configs/default.yaml for every key."""


def _cmd_train(args, extra: list[str]) -> int:
    from .train import train

    user = load_yaml(args.config) if args.config else {}
    user = deep_update(user, parse_overrides(extra))
    train(user)
    return 0


def _cmd_eval(args, extra: list[str]) -> int:
    if extra:
        raise ConfigError(f"unexpected arguments: {' '.join(extra)}")
    from . import load
    from .eval import knn_accuracy, linear_probe
    from .eval.probes import factor_probes, format_table, probe_frames

    encoder = load(args.run)
    data_cfg = encoder.config["data"]
    frames = probe_frames(data_cfg)
    if args.protocol == "probes":
        result = factor_probes(encoder, frames, args.k, args.temperature)
        print(format_table({str(args.run): result}))
    else:
        (xtr, ftr), (xte, fte) = frames["train"], frames["test"]
        htr, hte = encoder.embed(xtr), encoder.embed(xte)
        target = args.target
        if args.protocol == "linear":
            result = linear_probe(htr, ftr[target], hte, fte[target])
        else:
            result = {"top1": knn_accuracy(htr, ftr[target], hte, fte[target], args.k, args.temperature),
                      "k": args.k, "temperature": args.temperature}
        result = {"protocol": args.protocol, "target": target, **result}
        print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mvssl", description="Multi-view self-supervised learning.")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train a method", description=TRAIN_HELP)
    tr.add_argument("--config", help="YAML file with config sections (overrides come on top)")
    tr.set_defaults(func=_cmd_train)

    ev = sub.add_parser("eval", help="evaluate a trained encoder on Colorful-Moving-MNIST")
    ev.add_argument("protocol", choices=["linear", "knn", "probes"])
    ev.add_argument("run", help="run folder, encoder.pt or checkpoint")
    ev.add_argument("--target", default="digit", choices=["digit", "background"])
    ev.add_argument("--k", type=int, default=20, help="kNN neighbours (DINO default 20)")
    ev.add_argument("--temperature", type=float, default=0.07, help="kNN temperature (DINO default 0.07)")
    ev.add_argument("--out", help="also write the result as JSON here")
    ev.set_defaults(func=_cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        return args.func(args, extra)
    except (ConfigError, FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"mvssl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
