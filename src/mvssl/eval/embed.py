"""2-D maps of embeddings: UMAP if ``umap-learn`` is installed, else t-SNE (scikit-learn),
else PCA (torch), fitted on L2-normalised features of at most ``max_points`` items
drawn with a seeded generator, and drawn as a PNG scatter coloured by label."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .options import MAP_METHODS  # noqa: F401 - the choices mvssl eval embed shows


def available_method(method: str = "auto") -> str:
    if method != "auto":
        return method
    if importlib.util.find_spec("umap") is not None:
        return "umap"
    return "tsne" if importlib.util.find_spec("sklearn") is not None else "pca"


def project_2d(features: torch.Tensor, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Coordinates [N, 2] and the method that made them."""
    method = available_method(method)
    x = F.normalize(features.float(), dim=1)
    if method == "pca":
        centred = x - x.mean(0)
        _, _, v = torch.pca_lowrank(centred, q=2, center=False, niter=4)
        return (centred @ v[:, :2]).numpy(), method
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(x.numpy()), method
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(x) - 1) / 3))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x.numpy()), method
    raise ValueError(f"unknown map method {method!r}; choose from {list(MAP_METHODS)}")


def plot_map(coords: np.ndarray, labels: torch.Tensor, classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = labels.numpy()
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "turbo")
    fig, ax = plt.subplots(figsize=(6, 6), dpi=120)
    ax.scatter(coords[:, 0], coords[:, 1], c=labels, cmap=cmap, vmin=0, vmax=max(len(classes) - 1, 1), s=4,
               linewidths=0)
    if len(classes) <= 20:
        for i, name in enumerate(classes):
            ax.scatter([], [], color=cmap(i / max(len(classes) - 1, 1)), label=name, s=12)
        ax.legend(loc="best", fontsize=7, markerscale=1.5, frameon=False)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
