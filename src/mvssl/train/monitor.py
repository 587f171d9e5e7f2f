"""Cheap health measures of a batch of embeddings, to catch representation collapse, and
the callback that logs them during training (on the step's own embeddings: no extra
forward pass)."""
from __future__ import annotations

import logging
import math

import lightning as L
import torch
import torch.nn.functional as F

from ..losses.er import ENTROPY_ESTIMATORS, vmf_kde_entropy, vmf_reconstruction_error

log = logging.getLogger(__name__)


def embedding_std(z: torch.Tensor) -> float:
    """Mean per-dimension std of the L2-normalised embeddings [N, D], times sqrt(D):
    about 1 for embeddings spread evenly over the sphere, 0 when all are the same
    (the collapse measure of SimSiam, Chen & He 2021, Sec. 4.1)."""
    z = F.normalize(z.detach().float(), dim=1)
    return float(z.std(dim=0).mean()) * math.sqrt(z.shape[1])


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    """exp(entropy) of the normalised singular values of the centred, L2-normalised
    embeddings (Roy & Vetterli 2007): between 1 (all on a line) and min(N, D);
    0 when every embedding is the same."""
    z = F.normalize(z.detach().float(), dim=1)
    s = torch.linalg.svdvals(z - z.mean(dim=0))
    if float(s.sum()) <= eps:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@torch.no_grad()
def er_measures(z1: torch.Tensor, z2: torch.Tensor, kappa: float) -> dict[str, float]:
    """Entropy and reconstruction of a pair of views' projections [N, D] (docs/er.md), nats,
    absolute (vMF constants included): H(Z2) by the vMF KDE with the ER authors' ``average``
    and ``expectation`` estimators and by leave-one-out (``entropy_average``,
    ``entropy_expectation``, ``entropy_loo``), ``reconstruction`` = E[log q(z2 | z1)] with
    q = vMF(mean direction z1, kappa), and ``i_er`` = entropy_average + reconstruction, the
    I_ER lower bound on I(Z1; Z2) the ER losses train on."""
    z1, z2 = z1.detach(), z2.detach()
    entropy = {f"entropy_{e}": float(vmf_kde_entropy(z2, kappa, e)) for e in ENTROPY_ESTIMATORS}
    reconstruction = -float(vmf_reconstruction_error(z2, z1, kappa))
    return {**entropy, "reconstruction": reconstruction, "i_er": entropy["entropy_average"] + reconstruction}


def collapse_message(std: float, rank: float, min_std: float, min_rank: float, step: int) -> str | None:
    """A warning when either measure is below its threshold, else None."""
    if std >= min_std and rank >= min_rank:
        return None
    return (f"representation collapse at step {step}: embedding std {std:.3f} (x sqrt(dim); warn below "
            f"trainer.collapse_std {min_std}), effective rank {rank:.2f} (warn below trainer.collapse_rank "
            f"{min_rank}). The embeddings are (nearly) the same for every image; check the views, "
            "optim.lr and the method's temperature/predictor.")


class EmbeddingMonitor(L.Callback):
    """Logs ``monitor/embedding_std`` and ``monitor/effective_rank`` (of view 1's projections) and, with
    ``trainer.er_monitor`` and two views or more, ``er_measures`` as ``monitor/...`` (kappa
    ``trainer.er_kappa``), every ``trainer.log_every`` steps, from the detached embeddings ``SSLModule``
    keeps of that step. Warns once, on the log and on stdout, when the std or the effective rank says
    collapse. Cost per logged step: one N x N similarity matrix and one SVD of [N, D]."""

    def __init__(self, min_std: float, min_rank: float, er: bool = True, kappa: float = 10.0):
        self.min_std, self.min_rank, self.er, self.kappa = min_std, min_rank, er, kappa
        self.collapse_warned = False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        embeddings = getattr(pl_module, "monitor_embeddings", None)
        if not embeddings:
            return
        pl_module.monitor_embeddings = None
        logs = self.measure(embeddings, trainer.global_step, trainer.global_rank == 0)
        pl_module.log_dict({f"monitor/{k}": v for k, v in logs.items()}, on_step=True, prog_bar=False)

    def measure(self, embeddings: list[torch.Tensor], step: int, warn: bool = True) -> dict[str, float]:
        z = embeddings[0]
        logs = {"embedding_std": embedding_std(z), "effective_rank": effective_rank(z)}
        if self.er and len(embeddings) >= 2 and len(z) >= 2 and embeddings[1].shape == z.shape:
            logs.update(er_measures(z, embeddings[1], self.kappa))
        message = collapse_message(logs["embedding_std"], logs["effective_rank"], self.min_std, self.min_rank, step)
        if message and warn and not self.collapse_warned:
            self.collapse_warned = True
            if "entropy_loo" in logs:
                message += f" vMF-KDE leave-one-out entropy {logs['entropy_loo']:.2f} nats (kappa {self.kappa})."
            log.warning(message)
            print(f"warning: {message}", flush=True)
        return logs
