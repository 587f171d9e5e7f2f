"""The view-learning experiment's outputs: accuracy and I_NCE by arm with intervals over seeds,
the paper's Table 2 beside, the computed verdicts, the flags of generators that lowered only
their own critic's bound, and the plots."""
from __future__ import annotations

import time
from pathlib import Path

from ..eval.report import markdown_table
from ..studies.results import error_bar, fmt
from ..studies.stats import SUPPORTED, all_of, claim, difference, summarize, verdict

# InfoMin (Tian et al. 2020) Table 2, STL-10 linear-probe accuracy (%).
PAPER = {("rgb", "semi-supervised"): 86.0, ("rgb", "unsupervised"): 82.4, ("rgb", "supervised"): 79.9,
         ("rgb", "raw"): 81.5, ("ydbdr", "semi-supervised"): 87.0, ("ydbdr", "unsupervised"): 84.3,
         ("ydbdr", "supervised"): 78.5, ("ydbdr", "raw"): 86.6}
SEMI_BEATS = ("unsupervised", "supervised", "raw")


def reset_phrase(every: int, warmup: int) -> str:
    """How the adversarial critic is re-drawn, for the settings line ('' when it never is)."""
    return f", the critic re-drawn and warmed up again ({warmup} updates) every {every} generator steps" if every else ""


def select_phrase(select: str) -> str:
    """Which generator state an adversarial row keeps, for the settings line."""
    return ("; each adversarial row keeps the generator state (at the start, a critic reset or the end) that a "
            "critic just warmed up on its frozen views scores lowest" if select == "best" else "")


def ce_phrase(generator_ce: str) -> str:
    return ("the classifiers fit one half of the labelled images, the generator descends their CE on the other"
            if generator_ce == "held-out" else "classifiers and generator on the same labelled images")


def per_seed(rows: list[dict], key) -> dict:
    """{(space, views): [value of seed 0, seed 1, ...]} for ``key(row)`` (rows in seed order)."""
    out: dict = {}
    for r in sorted(rows, key=lambda r: r["seed"]):
        value = key(r)
        if value is not None:
            out.setdefault((r["space"], r["views"]), []).append(value)
    return out


def _paired(a: list[float], b: list[float]) -> dict:
    n = min(len(a), len(b))
    return difference(a[:n], b[:n])


def check_claims(rows: list[dict], task: str, quick: bool) -> list[dict]:
    """Per colour space: semi-supervised > unsupervised, > supervised, > raw, and unsupervised
    against raw in the direction the paper found in that space; then the headline claim
    (every semi-supervised comparison in every space). Paired by seed; needs 2 seeds."""
    acc = per_seed(rows, lambda r: r["accuracy"][task])
    if not acc or min(len(v) for v in acc.values()) < 2:
        return []
    out, semi_parts = [], []
    for space in dict.fromkeys(r["space"] for r in rows):
        for other in SEMI_BEATS:
            if (space, "semi-supervised") in acc and (space, other) in acc:
                d = _paired(acc[space, "semi-supervised"], acc[space, other])
                semi_parts.append(d)
                out.append(claim(f"infomin.view-learning.semi-vs-{other}.{space}",
                                 f"{space}: semi-supervised views beat {other} views", d,
                                 f"paired difference of {task} accuracy (paper: {PAPER[space, 'semi-supervised']} vs "
                                 f"{PAPER[space, other]})", quick, "pts"))
        if (space, "unsupervised") in acc and (space, "raw") in acc:
            paper_unsup_wins = PAPER[space, "unsupervised"] > PAPER[space, "raw"]
            hi, lo = ("unsupervised", "raw") if paper_unsup_wins else ("raw", "unsupervised")
            out.append(claim(f"infomin.view-learning.unsup-vs-raw.{space}",
                             f"{space}: {hi} views beat {lo} views (the paper's sign in this space)",
                             _paired(acc[space, hi], acc[space, lo]),
                             f"paired difference of {task} accuracy (paper: {PAPER[space, hi]} vs {PAPER[space, lo]})",
                             quick, "pts"))
    if semi_parts:
        out.insert(0, all_of("infomin.view-learning", "semi-supervised views beat unsupervised, supervised and raw "
                             "views in every colour space", semi_parts,
                             f"weakest of the {len(semi_parts)} paired differences of {task} accuracy", quick, "pts"))
    return out


def information_rows(rows: list[dict]) -> list[dict]:
    """Per learned arm: fresh-critic and own-critic I_NCE against the raw views' fresh-critic
    I_NCE, and the computed flags ``lowers_i_nce`` (the raw minus learned fresh-critic
    difference is above 0 with its interval) and ``fools_only_own_critic`` (the own critic's
    bound is below raw views' fresh bound while the fresh critics' is not lowered); both None
    (undecided) with a single seed."""
    fresh = per_seed(rows, lambda r: r["i_nce_fresh"])
    own = per_seed(rows, lambda r: r["i_nce_own_critic"])
    snr = per_seed(rows, lambda r: r.get("colour_snr"))
    kept = per_seed(rows, lambda r: (r.get("selection") or {}).get("step"))
    out = []
    for (space, kind), values in fresh.items():
        entry = {"space": space, "views": kind, "fresh": summarize(values),
                 "own": summarize(own[space, kind]) if (space, kind) in own else None}
        if (space, kind) in kept:  # the generator step each seed's kept state is from (--generator-select best)
            entry["kept_step"] = kept[space, kind]
        if (space, kind) in snr:  # {view: {colour: summary over seeds}}
            seeds = snr[space, kind]
            entry["colour_snr"] = {v: {c: summarize([s[v][c] for s in seeds]) for c in seeds[0][v]} for v in seeds[0]}
        raw = fresh.get((space, "raw"))
        if kind != "raw" and raw:
            d = _paired(raw, values)
            entry["raw_minus_fresh"] = d
            decided = d["n"] >= 2  # one seed gives no interval: neither flag is decided
            entry["lowers_i_nce"] = verdict(d) == SUPPORTED if decided else None
            entry["fools_only_own_critic"] = (None if not decided else entry["own"] is not None
                                              and not entry["lowers_i_nce"]
                                              and entry["own"]["mean"] < summarize(raw)["mean"])
        out.append(entry)
    return out


def _yes_no(value, undecided: str = "-") -> str:
    return undecided if value is None else ("yes" if value else "no")


def accuracy_table(rows: list[dict], targets: list[str], task: str, chance: float) -> str:
    headers = ["colour space", "views"] + [f"{t} acc (%)" for t in targets] + ["paper, STL-10 (%)"]
    body = []
    for (space, kind), values in per_seed(rows, lambda r: r["accuracy"]).items():
        body.append([space, kind] + [fmt(summarize([v[t] for v in values])) for t in targets] +
                    [PAPER.get((space, kind), "-")])
    for (space, _), values in per_seed(rows, lambda r: r["random_init_accuracy"]).items():
        body.append([space, "random-init encoders (raw views)"] + [fmt(summarize([v[t] for v in values]))
                                                                   for t in targets] + ["-"])
    body.append(["-", "chance"] + [f"{chance:.1f}" if t == task else "-" for t in targets] + ["10.0"])
    return markdown_table(headers, body)


def information_table(info: list[dict]) -> str:
    headers = ["colour space", "views", "fresh-critic I_NCE (nats)", "own adversarial critic I_NCE (nats)",
               "raw minus fresh (nats)", "lowers I_NCE (fresh)", "fools only its own critic"]
    selected = any("kept_step" in e for e in info)
    headers += ["kept generator step per seed"] if selected else []
    colours = next((list(e["colour_snr"]["view1"]) for e in info if "colour_snr" in e), [])
    headers += [f"view {k} {c} SNR" for k in (1, 2) for c in colours]
    body = [[e["space"], e["views"], fmt(e["fresh"], 2), fmt(e["own"], 2) if e["own"] else "-",
             fmt(e["raw_minus_fresh"], 2) if "raw_minus_fresh" in e else "-",
             *[_yes_no(e.get(k), "undecided (1 seed)" if "raw_minus_fresh" in e else "-")
               for k in ("lowers_i_nce", "fools_only_own_critic")],
             *([" / ".join(map(str, e.get("kept_step", []))) or "-"] if selected else []),
             *[fmt(e["colour_snr"][f"view{k}"][c], 2) if "colour_snr" in e else "-" for k in (1, 2) for c in colours]]
            for e in info]
    note = ("\n\nColour SNR: how strongly a view carries the label and the nuisance colour against the pixel noise "
            "(||J d|| / ||J||_F of the generator's Jacobian J at mid-grey, d the unit colour; 0 = removed); the "
            "oracle's view 1 has nuisance 0.") if colours else ""
    return markdown_table(headers, body) + note


def _mean_curve(curves: list[list[float]], window: int = 10) -> list[float]:
    steps = min(len(c) for c in curves)
    mean = [sum(c[i] for c in curves) / len(curves) for i in range(steps)]
    return [sum(mean[max(0, i - window + 1):i + 1]) / len(mean[max(0, i - window + 1):i + 1]) for i in range(steps)]


def plot(rows: list[dict], info: list[dict], task: str, chance: float, path: Path) -> None:
    """Left: the own critic's I_NCE over generator training (mean over seeds) with the fresh
    critics' bound on the final views (markers) and the raw views' (dashed); right: accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    curves = per_seed(rows, lambda r: [v for v in r["generator_i_nce_curve"] if v == v] or None)
    fresh = {(e["space"], e["views"]): e["fresh"] for e in info}
    for k, ((space, kind), cs) in enumerate(curves.items()):
        line = ax1.plot(_mean_curve(cs), label=f"{space} {kind}: own critic")[0]
        f = fresh[space, kind]
        ax1.errorbar([len(cs[0]) + 3 * (k + 1)], [f["mean"]], yerr=[error_bar(f)], fmt="o", color=line.get_color(),
                     capsize=3, label=f"{space} {kind}: fresh critics, kept views")
    for (space, kind), f in fresh.items():
        if kind == "raw":
            ax1.axhline(f["mean"], ls="--", color="grey" if space == "rgb" else "black", label=f"{space} raw: fresh critics")
    ax1.set_xlabel("generator step")
    ax1.set_ylabel("I_NCE(v1; v2) (nats)")
    ax1.set_title("Adversarial critic's bound vs fresh critics'")
    ax1.legend(fontsize=6)
    ax1.grid(alpha=0.3)
    acc = per_seed(rows, lambda r: r["accuracy"][task])
    spaces = list(dict.fromkeys(s for s, _ in acc))
    kinds = list(dict.fromkeys(k for _, k in acc))
    width = 0.8 / len(kinds)
    for j, kind in enumerate(kinds):
        xs = [i + j * width for i, s in enumerate(spaces) if (s, kind) in acc]
        s = [summarize(acc[sp, kind]) for sp in spaces if (sp, kind) in acc]
        ax2.bar(xs, [x["mean"] for x in s], width, yerr=[error_bar(x) for x in s], capsize=3, label=kind)
    ax2.axhline(chance, color="black", ls=":", label="chance")
    ax2.set_xticks([i + 0.4 - width / 2 for i in range(len(spaces))], [f"from {s}" for s in spaces])
    ax2.set_ylabel(f"linear-probe {task} accuracy (%)")
    ax2.set_title("CMC on the frozen views (mean ± 95% CI over seeds)")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_results(exp, rows: list[dict], task: str, cfg: dict, args, probe: dict, complete: bool) -> None:
    targets = list(probe["train"][1])
    chance = 100.0 / int(probe["train"][1][task].max() + 1)
    claims = check_claims(rows, task, exp.quick)
    info = information_rows(rows)
    acc = per_seed(rows, lambda r: r["accuracy"])
    info_by_arm = {(e["space"], e["views"]): e for e in info}
    points = [{"arm": f"{space} {kind}", "value": {"space": space, "views": kind},
               "metrics": {**{f"{t}_acc": summarize([v[t] for v in values]) for t in targets},
                           "i_nce_fresh": info_by_arm[space, kind]["fresh"],
                           **({"i_nce_own_critic": info_by_arm[space, kind]["own"]}
                              if info_by_arm[space, kind]["own"] else {}),
                           **{f"{view}_{colour}_snr": v for view, by_colour in
                              info_by_arm[space, kind].get("colour_snr", {}).items() for colour, v in by_colour.items()}},
               "flags": {k: info_by_arm[space, kind][k] for k in ("lowers_i_nce", "fools_only_own_critic")
                         if k in info_by_arm[space, kind]},
               "runs": [r["run"] for r in rows if (r["space"], r["views"]) == (space, kind)]}
              for (space, kind), values in acc.items()]
    setting = (f"Dataset {args.dataset} (task: {task}); generator: {cfg.get('linear_layers', 0)} linear and "
               f"{cfg['layers']} {cfg['coupling']} MLP 1x1 coupling layers, {cfg['gen_steps']} steps (learning rate "
               f"{cfg['generator_lr']:g}, {cfg.get('generator_schedule', 'constant')}) with {cfg['critic_steps']} "
               f"critic updates each after {cfg['critic_warmup']} critic-only warm-up updates"
               f"{reset_phrase(cfg.get('critic_reset', 0), cfg['critic_warmup'])}, "
               f"{cfg.get('generator_optimizer', 'adam')} as the generator's optimiser"
               f"{select_phrase(cfg.get('generator_select', 'last'))}, CE weight {cfg['ce_weight']} "
               f"({ce_phrase(cfg.get('generator_ce', 'shared'))}), {100 * cfg['labelled_fraction']:g}% of each "
               f"class's labelled images used as labels; CMC encoders and "
               f"{cfg['fresh_critics']} more fresh critic(s): convnet width {cfg['width']}, {cfg['cmc_steps']} steps "
               f"of batch {cfg['batch_size']}; I_NCE on held-out images in batches of "
               f"{min(500, len(probe['test'][0]))}; probe {len(probe['train'][0])} train / {len(probe['test'][0])} test "
               f"images. CPU time of the rows: {sum(r['cpu_seconds'] for r in rows):.0f} s; of the whole process "
               f"so far: {time.process_time():.0f} s (wall time below includes waiting for a shared CPU).")
    md = (f"## Linear-probe accuracy (mean ± 95% CI over seeds)\n\n{accuracy_table(rows, targets, task, chance)}\n\n"
          f"## I_NCE of the frozen views: fresh critics vs the generator's own critic\n\n{information_table(info)}"
          f"\n\n{setting}")
    plots = []
    if complete:
        plot(rows, info, task, chance, exp.out / "view_learning.png")
        plots = ["view_learning.png"]
    exp.write(points, claims, md, "InfoMin view learning (Table 2): learned vs raw colour-space views",
              extra={"config": cfg, "task": task, "information": info, "rows": rows,
                     "paper": {f"{s} {k}": v for (s, k), v in PAPER.items()}},
              plots=plots, complete=complete)
