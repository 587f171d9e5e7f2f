"""The view-learning experiment's outputs: the table, the paper's claims checked on the
measured numbers, and the plot."""
from __future__ import annotations

from pathlib import Path

from ..eval.report import markdown_table

# Table 2 of InfoMin (Tian et al. 2020), as orderings of linear-probe accuracy within a colour space.
CLAIMS = (("semi-supervised", "unsupervised"), ("semi-supervised", "supervised"), ("raw", "supervised"))


def check_claims(rows: list[dict], task: str) -> list[dict]:
    """For every colour space and every (a, b) in ``CLAIMS``: is accuracy(a) > accuracy(b)?"""
    acc = {(r["space"], r["views"]): r["accuracy"][task] for r in rows}
    out = []
    for space in dict.fromkeys(r["space"] for r in rows):
        for a, b in CLAIMS:
            if (space, a) in acc and (space, b) in acc:
                out.append({"space": space, "claim": f"{a} > {b}", "left": acc[space, a], "right": acc[space, b],
                            "holds": acc[space, a] > acc[space, b]})
    return out


def results_table(rows: list[dict], targets: list[str]) -> str:
    headers = ["colour space", "views"] + [f"linear-probe {t} acc (%)" for t in targets] + \
        ["I_NCE of views, test (nats)", "I_NCE at end of generator training (nats)"]
    body = [[r["space"], r["views"]] + [100 * r["accuracy"][t] for t in targets] +
            [r["i_nce_test"], r["i_nce_generator_end"] if r["i_nce_generator_end"] is not None else "-"]
            for r in rows]
    return markdown_table(headers, body)


def claims_table(claims: list[dict]) -> str:
    return markdown_table(["colour space", "paper's claim", "measured (%)", "holds here"],
                          [[c["space"], c["claim"], f"{100 * c['left']:.2f} vs {100 * c['right']:.2f}",
                            "yes" if c["holds"] else "no"] for c in claims])


def _smooth(values: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, v in enumerate(values):
        acc += v - (values[i - window] if i >= window else 0.0)
        out.append(acc / min(i + 1, window))
    return out


def plot(rows: list[dict], task: str, path: Path) -> None:
    """Left: the adversarial critic's I_NCE over generator training; right: probe accuracy bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        curve = [v for v in r["generator_i_nce_curve"] if v == v]
        if curve:
            ax1.plot(_smooth(curve, 20), label=f"{r['space']} {r['views']}")
    ax1.set_xlabel("generator training step")
    ax1.set_ylabel("I_NCE(g(X)_1; g(X)_2:3), nats (moving avg 20)")
    ax1.set_title("InfoMin view learning: critic's bound")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    spaces = list(dict.fromkeys(r["space"] for r in rows))
    kinds = list(dict.fromkeys(r["views"] for r in rows))
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        xs = [s + k * width for s, space in enumerate(spaces) if any(r["space"] == space and r["views"] == kind for r in rows)]
        ys = [100 * r["accuracy"][task] for space in spaces for r in rows if r["space"] == space and r["views"] == kind]
        ax2.bar(xs, ys, width, label=kind)
    ax2.set_xticks([s + 0.4 - width / 2 for s in range(len(spaces))], [f"from {s}" for s in spaces])
    ax2.set_ylabel(f"linear-probe {task} accuracy (%)")
    ax2.set_title("CMC on the frozen views")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
