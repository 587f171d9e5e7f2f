"""The ER objectives (Rodriguez-Galvez et al. 2023, Sec. 5): a distillation or clustering
method's loss made explicitly "reconstruction minus entropy", i.e. -I_ER up to constants.
Pure functions; the stop-gradients of the wrapped losses are unchanged."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .er import marginal_entropy, vmf_kde_entropy


def er_continuous_loss(method_loss: torch.Tensor, loss_per_unit_cosine: float, projections: list[torch.Tensor],
                       kappa: float, reconstruction_weight: float = 1.0,
                       entropy_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """ER-BYOL / ER-SimSiam, continuous (vMF) ER:

        L = w_rec * (kappa / c) * L_method  -  w_ent * mean_v H_KDE(Z_v; kappa)

    BYOL's loss is 2 - 2 cos (c = 2) and SimSiam's is -cos (c = 1), so (kappa / c) L_method
    is the vMF reconstruction error -kappa E[cos(prediction, sg(target))] up to a constant:
    exactly the reconstruction term of I_ER with q = vMF(prediction, kappa). H_KDE is the
    vMF-KDE entropy (``vmf_kde_entropy``, the ER authors' ``average`` estimator, constant
    dropped) of each view's online projections, which carry the gradient (the target side has none). With the two
    weights at 1 the loss is -I_ER up to a constant. Returns (loss, logs)."""
    reconstruction = kappa / loss_per_unit_cosine * method_loss
    entropy = sum(vmf_kde_entropy(z, kappa, "average", include_constant=False) for z in projections) / len(projections)
    loss = reconstruction_weight * reconstruction - entropy_weight * entropy
    return loss, {"er_reconstruction_error": reconstruction.detach(), "er_entropy_up_to_constant": entropy.detach()}


def er_discrete_loss(method_loss: torch.Tensor, student_logits: list[torch.Tensor], temperature: float,
                     reconstruction_weight: float = 1.0,
                     entropy_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """ER-DINO / ER-SwAV, discrete ER:

        L = w_rec * L_method  -  w_ent * mean_v H( 1/N sum_i softmax(s_v,i / tau) )

    L_method (DINO's or SwAV's cross-entropy from the teacher's / Sinkhorn assignment to
    the student's prediction) is the discrete reconstruction error; the entropy is that of
    the batch-mean of each student view's assignment distribution (``marginal_entropy``),
    which the student's gradient raises: the batch is pushed to use every cluster."""
    entropy = sum(marginal_entropy(F.softmax(s.float() / temperature, dim=-1)) for s in student_logits)
    entropy = entropy / len(student_logits)
    loss = reconstruction_weight * method_loss - entropy_weight * entropy
    return loss, {"er_reconstruction_error": method_loss.detach(), "er_entropy": entropy.detach()}
