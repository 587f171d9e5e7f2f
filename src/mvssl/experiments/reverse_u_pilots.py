"""The rule of reverse-U version 2's pilot 3 (docs/reverse_u_pilots/p3.yaml, fixed before it ran), applied
to its results.json: ``python -m mvssl.experiments.reverse_u_pilots docs/reverse_u_pilots/p3`` prints the
pilot's table (computed) and the rule's outcome."""
from __future__ import annotations

import json
import sys
from pathlib import Path

LEARN_MARGIN = 5.0  # points of digit accuracy over the random-init twin (rule (a))


def rule(results: dict) -> dict:
    """(a) patch-8 learns: digit accuracy minus its random-init twin >= LEARN_MARGIN; (b) design check:
    I_NCE falls from patch-0 to patch-8 to patch-12; (c) wall seconds per point."""
    points = {p["arm"]: p for p in results["points"]}

    def mean(arm, m, which="metrics"):
        return points[arm][which][m]["mean"]

    over_twin = mean("patch-8", "digit_acc") - mean("patch-8", "digit_acc", "random_init")
    nce = [mean(a, "i_nce") for a in ("patch-0", "patch-8", "patch-12")]
    return {"patch8_over_twin": over_twin, "learns": over_twin >= LEARN_MARGIN,
            "nce_order": nce[0] > nce[1] > nce[2], "nce": nce,
            "seconds_per_point": results["wall_seconds"] / len(points)}


def page(results: dict) -> str:
    r = rule(results)
    lines = ["| arm | digit acc (%) | random-init twin (%) | I_NCE (nats) | critic gain, last half (nats) |",
             "|---|---:|---:|---:|---:|"]
    for p in results["points"]:
        m, ri = p["metrics"], p["random_init"]
        lines.append(f"| {p['arm']} | {m['digit_acc']['mean']:.1f} | {ri['digit_acc']['mean']:.1f} | "
                     f"{m['i_nce']['mean']:.2f} | {m['i_nce_gain']['mean']:+.2f} |")
    lines += ["", f"(a) patch-8 minus its twin: {r['patch8_over_twin']:+.1f} points -> "
              + ("learns (>= 5): the patch knob runs as registered" if r["learns"] else
                 "below 5: the pilot predicts the patch predictions not testable (sweet-spot gate)"),
              f"(b) I_NCE patch-0 > patch-8 > patch-12: {'yes' if r['nce_order'] else 'no'} "
              f"({', '.join(f'{v:.2f}' for v in r['nce'])} nats)",
              f"(c) {results['wall_seconds']:.0f} s for {len(results['points'])} points: "
              f"{r['seconds_per_point']:.0f} s per point (one seed, one critic, --jobs 1)"]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "results.json").is_file():
        print("usage: python -m mvssl.experiments.reverse_u_pilots PILOT_DIR (a folder with results.json)", file=sys.stderr)
        sys.exit(2)
    print(page(json.loads((Path(sys.argv[1]) / "results.json").read_text())))
