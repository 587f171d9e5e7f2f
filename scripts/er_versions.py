"""docs/er.md's before/after tables of the ER study, read from committed results.json files: version 1
re-judged under the study rules, version 1's per-seed values under version 2's difference-in-differences,
then each later output given; and each output's per-seed differences-in-differences and final ranks.

    PYTHONPATH=src python scripts/er_versions.py docs/er_results/versions/1-None/results.json \
        "version 2, bf16=docs/er_results/versions/2-316298c7d4bd/results.json" \
        "version 3, bf16=docs/er_results/results.json" "version 3, fp32=docs/er_results/fp32/results.json" \
        "version 4 (8 seeds), bf16=docs/er_results/v4-8seeds/results.json"
"""
import json
import math
import sys

import numpy as np
from scipy import stats as sps

ROWS = [("byol-learns", "byol-learns", None), ("byol-entropy-constant", "byol-entropy-constant", None),
        ("er-byol-gain-small", "er-byol-small", "small"), ("er-byol-gain-ema", "er-byol-ema", "ema"),
        ("er-byol-term-acts", "er-term-acts", None), ("dino-learns", "dino-learns", None),
        ("dino-entropy-constant", "dino-entropy-constant", None), ("er-dino-gain-small", "er-dino-small", None),
        ("er-dino-gain-ema", "er-dino-ema", None), ("er-dino-term-acts", "er-term-acts", None)]


def fmt(c):
    e, h = c.get("effect"), c.get("ci")
    s = c["verdict"]
    if s == "not testable":
        return f"not testable ({c.get('failed_gate') or c.get('reason')}; effect {e:+.2f} ± {h:.2f})"
    return f"{s} {e:+.2f} ± {h:.2f}"


def did(v1json, hard):
    """Version 1's per-seed digit errors under version 2's difference-in-differences."""
    err = {p["arm"]: p["metrics"]["digit_error"]["per_seed"] for p in v1json["points"]
           if "digit_error" in p["metrics"]}
    b = {"small": "small batch", "ema": "weak EMA"}[hard]
    per = [(bs - es) - (bd - ed) for bs, es, bd, ed in zip(err[f"byol ({b})"], err[f"er-byol ({b})"],
                                                         err["byol (default batch)"], err["er-byol (default batch)"])]
    n = len(per); m = sum(per) / n; sd = float(np.std(per, ddof=1))
    h95 = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n); h99 = sps.t.ppf(1 - 0.01 / 2, n - 1) * sd / math.sqrt(n)
    return f"{m:+.2f} ± {h95:.2f} (95%), ± {h99:.2f} (99%); per seed " + ", ".join(f"{x:+.1f}" for x in per)


def no_dino(v1json, o):
    """A DINO prediction of an output without DINO arms: `--families byol,dino` trains version 1's DINO
    recipe unchanged, so version 1's own dino-default ranks say what the output's rank floor (read from
    its byol-default floor gate) makes of it."""
    rank = next(p["metrics"]["effective_rank"]["per_seed"] for p in v1json["points"]
                if p["arm"] == "dino (default batch)")
    gate = next(g for g in o["gates"] if g["gate"] == "floor" and g["arm"] == "byol-default")
    floor = next(p["metrics"]["rank"]["mean"] for p in o["points"] if p["arm"] == "byol-default") - gate["effect"]
    return (f"not testable: no DINO arm in the default; at its recipe (`--families byol,dino`, version 1's) "
            f"version 1's dino-default ends at rank {np.mean(rank):.2f} (per seed "
            f"{', '.join(f'{x:.1f}' for x in rank)}), {'below' if np.mean(rank) <= floor else 'above'} "
            f"the rank floor {floor:g}")


def per_seed_row(label, o):
    e = {p["arm"]: dict(zip(o["seeds"], p["metrics"]["err"]["per_seed"])) for p in o["points"]
         if p["arm"] != "random init"}
    r = {p["arm"]: p["metrics"]["rank"]["per_seed"] for p in o["points"] if "rank" in p["metrics"]}

    def d(h):
        return ", ".join(f"{(e[f'byol-{h}'][s] - e[f'er-byol-{h}'][s]) - (e['byol-default'][s] - e['er-byol-default'][s]):+.1f}"
                         for s in o["seeds"])
    return (f"| {label} (seeds {', '.join(map(str, o['seeds']))}) | {d('small')} | {d('ema')} | "
            f"{', '.join(f'{x:.1f}' for x in r['byol-default'])} |")


def tables(v1, v1json, given) -> str:
    """``v1``: version 1's re-judged claims by id; ``given``: [(label, results.json dict)]."""
    labels, outs = [g[0] for g in given], [g[1] for g in given]
    later = [{c["id"]: c for c in o["claims"]} for o in outs]
    lines = ["| prediction (versions 2, 3) | version 1, committed, re-judged (its own prediction) | version 1's "
             "per-seed values, version 2's contrast | " + " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(outs)]
    for new, old, hard in ROWS:
        cells = [f"`{new}`", f"`{old}`: {fmt(v1[old])}", did(v1json, hard) if hard else "-"]
        cells += [fmt(v[new]) if new in v else no_dino(v1json, o) for v, o in zip(later, outs)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| output | DiD small batch, per seed | DiD weak EMA, per seed | byol-default final rank, per seed |",
              "|---|---|---|---|"]
    lines += [per_seed_row(label, o) for label, o in zip(labels, outs)]
    return "\n".join(lines)


def main(argv):
    from mvssl.experiments import rejudge
    js = rejudge.rejudge()
    v1 = {c["id"]: c for c in [j for j in js if j["study"].name == "er"][0]["result"]["claims"]}
    given = [(a.split("=", 1)[0], json.load(open(a.split("=", 1)[1]))) for a in argv[1:]]
    print(tables(v1, json.load(open(argv[0])), given))


if __name__ == "__main__":
    main(sys.argv[1:])
