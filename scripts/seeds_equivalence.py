"""Several seeds in one model against separate runs (issue 39, docs/performance.md):

1. equivalence: seeds S..S+K-1 of one config trained as K separate runs (``mvssl train``'s
   ``train``) and as one K-wide run (``mvssl train --seeds K``'s ``train_seeds``); the table of
   each seed's digit error (linear probe on held-out digits), mean and spread, and two tests of
   "the batched seeds are drawn like the separate ones": Welch's two-sample t-test and the
   paired t-test by seed (both runs of a seed start from the same weights and data order);
2. throughput (``--rounds R``): R interleaved rounds of K single runs and one K-wide run of
   ``--round-steps`` steps without evaluation; training seconds per encoder (medians), the
   ratio of encoders per core-hour, and the load average around each round.

Run from the repository root, single-threaded as the study engine's workers are:
    OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/seeds_equivalence.py --out /tmp/seeds-eq --steps 400
``--conv`` adds a table of each convolution of the ConvNet timed as K single and one grouped.
It writes OUT/equivalence.md and OUT/equivalence.json (and the run folders under OUT)."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from scipy import stats

from mvssl.config import deep_update
from mvssl.train import train
from mvssl.train.seeds import seed_configs, train_seeds


def cpu() -> str:
    """The CPU's model name, core count and its bf16/AMX flags (Linux), else the platform's word."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name}, {os.cpu_count()} logical cores, flags {' '.join(wanted) or 'none of avx2/avx512'}"


def load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def user_config(args, out: Path, name: str, eval_enabled: bool = True, steps: int | None = None) -> dict:
    return {"trainer": {"max_steps": steps or args.steps, "out_dir": str(out), "name": name, "progress": False,
                        "seed": args.first_seed},
            "backbone": {"width": args.width}, "optim": {"batch_size": args.batch},
            "eval": {"enabled": eval_enabled}}


def equivalence(args, out: Path) -> dict:
    user = user_config(args, out / "separate", "sep")
    separate, batched, walls = {}, {}, {}
    configs = seed_configs(user, args.seeds)
    half = len(configs) // 2
    started = time.perf_counter()
    for cfg in configs[:half]:  # separate runs before and after the batched one: load drift hits both
        separate[cfg["trainer"]["seed"]] = train(cfg)[1]
    walls["separate_first"] = time.perf_counter() - started
    loads = {"before_batched": load()}
    started = time.perf_counter()
    user_b = deep_update(user, {"trainer": {"out_dir": str(out / "batched"), "name": "batched"}})
    for run_dir, metrics in train_seeds(seed_configs(user_b, args.seeds)):
        batched[int(run_dir.name.rsplit("seed", 1)[1])] = metrics
    walls["batched"] = time.perf_counter() - started
    loads["after_batched"] = load()
    started = time.perf_counter()
    for cfg in configs[half:]:
        separate[cfg["trainer"]["seed"]] = train(cfg)[1]
    walls["separate_second"] = time.perf_counter() - started
    seeds = sorted(separate)
    a = [separate[s]["eval"]["trained"]["digit_error_pct"] for s in seeds]
    b = [batched[s]["eval"]["trained"]["digit_error_pct"] for s in seeds]
    rnd = [separate[s]["eval"]["random init"]["digit_error_pct"] for s in seeds]
    welch = stats.ttest_ind(a, b, equal_var=False)
    paired = stats.ttest_rel(a, b)
    return {"seeds": seeds, "separate": a, "batched": b, "random_init": rnd, "welch_p": float(welch.pvalue),
            "paired_p": float(paired.pvalue), "walls": walls, "loads": loads,
            "train_seconds": {"separate": sum(separate[s]["train_seconds"] for s in seeds),
                              "batched": batched[seeds[0]]["train_seconds"]}}


def throughput(args, out: Path) -> dict:
    single, wide, loads, single_wall, wide_wall = [], [], [], [], []
    for r in range(args.rounds):
        loads.append(load())
        seconds, started = 0.0, time.perf_counter()
        for i in range(args.seeds):
            cfg = user_config(args, out / "throughput", f"single-r{r}-s{i}", False, args.round_steps)
            cfg["trainer"]["seed"] = args.first_seed + i
            seconds += train(cfg)[1]["train_seconds"]
        single.append(seconds / args.seeds)
        single_wall.append((time.perf_counter() - started) / args.seeds)
        started = time.perf_counter()
        user = user_config(args, out / "throughput", f"wide-r{r}", False, args.round_steps)
        wide.append(train_seeds(seed_configs(user, args.seeds))[0][1]["train_seconds"] / args.seeds)
        wide_wall.append((time.perf_counter() - started) / args.seeds)
    loads.append(load())
    s, w = statistics.median(single), statistics.median(wide)
    sw, ww = statistics.median(single_wall), statistics.median(wide_wall)
    return {"round_steps": args.round_steps, "seconds_per_encoder_single": single,
            "seconds_per_encoder_batched": wide, "median_single": s, "median_batched": w, "ratio": s / w,
            "wall_per_encoder_single": single_wall, "wall_per_encoder_batched": wide_wall,
            "wall_ratio": sw / ww, "loads": loads}


def conv_layers(args) -> list[dict]:
    """Forward + backward of each distinct convolution of the width-``args.width`` ConvNet at the
    default image size, batch 2 x ``args.batch`` (two views), as K single convolutions and as one
    grouped one (groups=K), in bf16 channels-last (the default precision on fast-bf16 CPUs);
    medians of 5 after 2 warm-up calls."""
    k, n, w, rows = args.seeds, 2 * args.batch, args.width, []
    layers = [(3, w, 24, 1), (w, w, 24, 1), (w, 2 * w, 24, 2), (2 * w, 2 * w, 12, 1), (2 * w, 4 * w, 12, 2),
              (4 * w, 4 * w, 6, 1), (4 * w, 8 * w, 6, 2), (8 * w, 8 * w, 3, 1)]

    def timed(cin, cout, size, stride, groups):
        conv = torch.nn.Conv2d(groups * cin, groups * cout, 3, stride, 1, bias=False, groups=groups)
        conv = conv.to(torch.bfloat16, memory_format=torch.channels_last)
        x = torch.randn(n, groups * cin, size, size, dtype=torch.bfloat16).contiguous(
            memory_format=torch.channels_last).requires_grad_(True)

        def once():
            y = conv(x)
            y.backward(torch.ones_like(y))
        for _ in range(2):
            once()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            once()
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    for cin, cout, size, stride in layers:
        rows.append({"layer": f"{cin}->{cout} at {size} px, stride {stride}",
                     "singles_ms": 1e3 * k * timed(cin, cout, size, stride, 1),
                     "grouped_ms": 1e3 * timed(cin, cout, size, stride, k)})
    return rows


def report(args, eq: dict | None, tp: dict | None, conv: list[dict] | None = None) -> str:
    threads = torch.get_num_threads()
    lines = [f"# Several seeds in one model: {args.seeds} seeds, separate runs vs one batched run", "",
             f"Config: the default (`mvssl train`) with trainer.max_steps {args.steps}, backbone.width {args.width}, "
             f"optim.batch_size {args.batch}, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; "
             f"{threads} thread(s), torch {torch.__version__}, {cpu()}; "
             f"load average (1/5/15 min) at the start {args.start_load}.", "",
             "Command: `OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/seeds_equivalence.py "
             + " ".join(args.argv) + "`", ""]
    if eq is not None:
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else float("nan")  # noqa: E731
        lines += ["## Digit error (%) of each seed (linear probe of the frozen encoder, held-out digits)", "",
                  "| seed | separate run | batched (K-wide) run | batched - separate |", "|---:|---:|---:|---:|"]
        lines += [f"| {s} | {x:.1f} | {y:.1f} | {y - x:+.1f} |" for s, x, y in zip(eq["seeds"], eq["separate"],
                                                                                    eq["batched"])]
        lines += [f"| mean ± sd | {statistics.mean(eq['separate']):.1f} ± {sd(eq['separate']):.1f} | "
                  f"{statistics.mean(eq['batched']):.1f} ± {sd(eq['batched']):.1f} | "
                  f"{statistics.mean(eq['batched']) - statistics.mean(eq['separate']):+.1f} |",
                  f"| random init (mean) | {statistics.mean(eq['random_init']):.1f} | | |", "",
                  f"Welch two-sample t-test, separate vs batched: p = {eq['welch_p']:.2f}; paired t-test by seed: "
                  f"p = {eq['paired_p']:.2f}. Batched seeds inside the separate runs' range "
                  f"[{min(eq['separate']):.1f}, {max(eq['separate']):.1f}]: "
                  f"{sum(min(eq['separate']) <= y <= max(eq['separate']) for y in eq['batched'])} of "
                  f"{len(eq['batched'])}.", "",
                  f"Training seconds: separate {eq['train_seconds']['separate']:.0f} (sum of {args.seeds} runs), "
                  f"batched {eq['train_seconds']['batched']:.0f}; wall incl. evaluation: separate "
                  f"{eq['walls']['separate_first'] + eq['walls']['separate_second']:.0f} s, batched "
                  f"{eq['walls']['batched']:.0f} s; load around the batched run {eq['loads']['before_batched']} -> "
                  f"{eq['loads']['after_batched']}. Under load, read the ratio of these, not the figures.", ""]
    if tp is not None:
        lines += [f"## Throughput ({args.rounds} interleaved rounds of {tp['round_steps']} steps, no evaluation)", "",
                  "Training seconds per encoder, each round: single runs "
                  + ", ".join(f"{v:.1f}" for v in tp["seconds_per_encoder_single"]) + "; batched "
                  + ", ".join(f"{v:.1f}" for v in tp["seconds_per_encoder_batched"]) + ".",
                  f"Medians {tp['median_single']:.1f} vs {tp['median_batched']:.1f} s: batched gives "
                  f"**{tp['ratio']:.2f}x** the encoders per core-hour of separate runs (training loop only; "
                  f"load averages at the rounds' starts {', '.join(tp['loads'])}).",
                  "Wall seconds per encoder in this process (set-up, training loop, encoder written; no evaluation, "
                  "no interpreter start-up): single " + ", ".join(f"{v:.1f}" for v in tp["wall_per_encoder_single"])
                  + "; batched " + ", ".join(f"{v:.1f}" for v in tp["wall_per_encoder_batched"])
                  + f": **{tp['wall_ratio']:.2f}x** the encoders per core-hour.", ""]
    if conv:
        lines += [f"## Convolutions: {args.seeds} single vs one grouped (groups={args.seeds}), forward + backward, "
                  "bf16 channels-last, ms", "", f"| layer | {args.seeds} single | grouped | single / grouped |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {r['layer']} | {r['singles_ms']:.1f} | {r['grouped_ms']:.1f} | "
                  f"{r['singles_ms'] / r['grouped_ms']:.2f} |" for r in conv]
        total_s, total_g = sum(r["singles_ms"] for r in conv), sum(r["grouped_ms"] for r in conv)
        lines += [f"| all | {total_s:.1f} | {total_g:.1f} | {total_s / total_g:.2f} |", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    import sys

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=400, help="steps of each equivalence run (0: skip that part)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=0, help="interleaved throughput rounds (0: skip that part)")
    p.add_argument("--round-steps", type=int, default=40)
    p.add_argument("--conv", action="store_true", help="also time each convolution as K single and one grouped")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.start_load = load()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    conv = conv_layers(args) if args.conv else None
    tp = throughput(args, out) if args.rounds else None
    eq = equivalence(args, out) if args.steps else None
    text = report(args, eq, tp, conv)
    (out / "equivalence.md").write_text(text)
    (out / "equivalence.json").write_text(json.dumps({"equivalence": eq, "throughput": tp, "conv": conv}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
