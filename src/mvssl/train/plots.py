"""A run's training curves, one figure per topic with a caption for the run summary: ``training.png``
(loss, learning rate and any term the method logs, skipped steps marked), ``online_probe.png`` (the
online probe's accuracy on each logged batch), ``monitor.png`` (collapse and ER monitors; docs/er.md)."""
from __future__ import annotations

import csv
from pathlib import Path

# y-axis label (with its unit) of every series mvssl logs; an unknown key is labelled by its name
LABELS = {
    "train/lr": "learning rate\n(optim.lr x schedule)",
    "train/momentum": "EMA momentum",
    "train/teacher_temperature": "teacher temperature",
    "train/code_entropy": "code entropy (nats)",
    "train/z_std": "projection std\n(x sqrt(dim))",
    "train/er_entropy": "ER entropy term (nats)",
    "train/er_entropy_up_to_constant": "ER entropy term\n(nats, up to a constant)",
    "train/er_reconstruction_error": "ER reconstruction\nerror term",
    "monitor/embedding_std": "embedding std\n(x sqrt(dim))",
    "monitor/effective_rank": "effective rank\n(dimensions)",
    "monitor/entropy_average": "entropy estimates and\nreconstruction (nats)",
    "monitor/reconstruction": "nats",
    "monitor/i_er": "I_ER (nats)",
    "train/target_entropy": "teacher-target entropy and\nreconstruction (nats)",
}
# the unit of each method's loss: cross-entropies are in nats, BYOL/SimSiam are cosine distances
LOSS_UNITS = {"byol": "2 - 2 cos", "simsiam": "negative cosine", "er-byol": "a.u.", "er-simsiam": "a.u.",
              "er-dino": "a.u.", "er-swav": "a.u."}
NOT_METHOD_TERMS = ("train/loss", "train/lr", "train/probe_acc", "train/skipped_steps")

PROBE_EXPLAINED = ("the online probe is a linear classifier trained beside the method on the detached "
                   "backbone features of each training batch (its own loss, no gradient into the encoder); its "
                   "accuracy is measured on that same batch before the update, so it tracks how linearly "
                   "decodable the labels are during training, not a held-out score")


def label(key: str, method: str = "") -> str:
    if key == "train/loss":
        return f"loss ({LOSS_UNITS.get(method, 'nats')})"
    if key.startswith("train/loss_"):  # LooC: one InfoNCE loss per embedding space
        return f"loss of space\n{key.removeprefix('train/loss_')} (nats)"
    return LABELS.get(key, key.removeprefix("train/"))


def read_series(metrics_csv: Path) -> dict[str, tuple[list[int], list[float]]]:
    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key and key.startswith(("train/", "monitor/")) and value not in ("", None):
                    steps, values = series.setdefault(key, ([], []))
                    steps.append(int(float(row["step"])))
                    values.append(float(value))
    return series


def plot_training_curves(metrics_csv: Path, out_dir: Path, method: str = "", probe_classes: int = 0,
                         collapse_std: float | None = None, collapse_rank: float | None = None) -> dict[Path, str]:
    """Write the figures the logged series allow; returns {png path: caption}."""
    if not Path(metrics_csv).exists():
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_series(Path(metrics_csv))
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[Path, str] = {}

    def save(fig, name: str, caption: str) -> None:
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        figures[path] = caption

    def panels(keys: list[str], title: str):
        fig, axes = plt.subplots(len(keys), 1, figsize=(6, 1.6 + 1.6 * len(keys)), sharex=True, squeeze=False)
        axes = axes[:, 0]
        fig.suptitle(title)
        axes[-1].set_xlabel("training step")
        for ax in axes:
            ax.grid(alpha=0.3)
        return fig, axes

    terms = sorted(k for k in series if k.startswith("train/") and k not in NOT_METHOD_TERMS)
    keys = [k for k in ("train/loss", "train/lr") if k in series] + terms
    if keys:
        fig, axes = panels(keys, f"Training loss and learning rate ({method})" if method else
                           "Training loss and learning rate")
        for ax, key in zip(axes, keys):
            ax.plot(*series[key])
            ax.set_ylabel(label(key, method))
        skipped = series.get("train/skipped_steps")
        if skipped and max(skipped[1]) > 0:
            steps = [s for s, prev, now in zip(skipped[0], [0.0, *skipped[1]], skipped[1]) if now > prev]
            for s in steps:
                axes[0].axvline(s, color="tab:red", alpha=0.4, lw=1)
            axes[0].plot([], [], color="tab:red", alpha=0.4, label=f"skipped steps ({int(max(skipped[1]))}, "
                                                                      "non-finite loss)")
            axes[0].legend(fontsize=8)
        save(fig, "training.png", "the training loss (the method's objective) and the learning rate at each logged "
             "step" + (f", with the method's own terms ({', '.join(k.removeprefix('train/') for k in terms)})"
                       if terms else "") + (", skipped steps marked in red" if skipped and max(skipped[1]) > 0
                                            else ""))
    if "train/probe_acc" in series:
        fig, (ax,) = panels(["train/probe_acc"], "Online linear probe on training batches")
        steps, values = series["train/probe_acc"]
        ax.plot(steps, [100 * v for v in values], label="online probe")
        if probe_classes:
            ax.axhline(100 / probe_classes, color="gray", ls="--", label=f"chance ({100 / probe_classes:.0f}%)")
            ax.legend(fontsize=8)
        ax.set_ylabel("accuracy on the\nstep's batch (%)")
        save(fig, "online_probe.png", f"online probe accuracy: {PROBE_EXPLAINED}; the frozen-encoder evaluation on "
             "the test split is the score that counts")
    groups = [[k] for k in ("monitor/embedding_std", "monitor/effective_rank") if k in series]
    entropies = [f"monitor/entropy_{e}" for e in ("average", "expectation", "loo")]
    if all(k in series for k in entropies + ["monitor/reconstruction"]):
        groups.append(entropies + ["monitor/reconstruction"])
    if "monitor/i_er" in series:
        groups.append(["monitor/i_er"])
    if groups:
        fig, axes = panels([g[0] for g in groups], "Collapse and ER monitor (the step's own embeddings)")
        thresholds = {"monitor/embedding_std": collapse_std, "monitor/effective_rank": collapse_rank}
        for ax, group in zip(axes, groups):
            for key in group:
                ax.plot(*series[key], label=key.removeprefix("monitor/").replace("_", " "))
            if thresholds.get(group[0]) is not None:
                ax.axhline(thresholds[group[0]], color="tab:red", ls="--", label="collapse warning below")
            if len(group) > 1 or thresholds.get(group[0]) is not None:
                ax.legend(fontsize=8)
            ax.set_ylabel(LABELS.get(group[0], group[0]))
        save(fig, "monitor.png", "collapse monitor: std of the L2-normalised projections x sqrt(dim) (1 = spread over "
             "the sphere, 0 = one point) and their effective rank (1 = all on a line)" +
             ("; ER monitor: entropy H(Z2) and reconstruction E[log q(Z2|Z1)] in nats, and their sum I_ER, a lower "
              "bound on I(Z1; Z2) (docs/er.md)" if len(groups) > 2 else ""))
    return figures
