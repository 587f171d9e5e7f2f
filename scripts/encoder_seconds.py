"""Seconds one encoder of a config costs in the src on PYTHONPATH, in process (as a `--jobs` worker
trains its runs: no interpreter start-up): set-up, training, evaluation and run folder.

    PYTHONPATH=OLD/src OMP_NUM_THREADS=1 python scripts/encoder_seconds.py CONFIG.yaml

Prints one JSON line: wall_seconds, train_seconds (the run's own), the trained encoder's evaluation.
scripts/speed-figures.sh (part 5) runs it on the old src with the first arm's registered config."""
import json
import sys
import time

import torch
import yaml


def main(path: str) -> int:
    from mvssl.train.run import train

    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    cfg = yaml.safe_load(open(path))
    started = time.perf_counter()
    _, metrics = train(cfg, echo=lambda *a, **k: None)
    wall = time.perf_counter() - started
    print(json.dumps({"wall_seconds": wall, "train_seconds": metrics["train_seconds"],
                      "eval": metrics.get("eval", {}).get("trained", {})}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
