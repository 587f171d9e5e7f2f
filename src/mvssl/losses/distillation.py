"""Distillation losses (pure functions): BYOL, SimSiam, DINO, cosine feature distillation. The target side of each
is detached here, so the stop-gradient of the paper holds whoever calls the loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's normalised mean squared error (Grill et al. 2020, Eq. 2):

        L = mean_i || q_i/||q_i|| - z'_i/||z'_i|| ||^2 = mean_i (2 - 2 <q_i, z'_i> / (||q_i|| ||z'_i||))

    with q the online prediction [N, D] and z' the target projection [N, D], which gets
    no gradient (sg(z')). The paper's symmetrised loss adds the same term with the two
    views swapped. Leading dimensions are kept: [K, N, D] -> [K] (several seeds in one model).
    """
    p = F.normalize(prediction.float(), dim=-1)
    z = F.normalize(target.detach().float(), dim=-1)
    return (2 - 2 * (p * z).sum(-1)).mean(-1)


def simsiam_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SimSiam's negative cosine similarity with stop-gradient (Chen & He 2021, Eq. 1 and 3):

        D(p, sg(z)) = -mean_i <p_i, z_i> / (||p_i|| ||z_i||)

    The symmetrised loss is L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2.
    """
    return -F.cosine_similarity(prediction.float(), target.detach().float(), dim=-1).mean()


def dino_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor,
              student_temperature: float = 0.1, teacher_temperature: float = 0.04) -> torch.Tensor:
    """DINO's cross-entropy between the sharpened, centred teacher and the student
    (Caron et al. 2021, Eq. 1-3 and Alg. 1). With K outputs per crop,

        P_t(x) = softmax((g_t(x) - c) / tau_t),   P_s(x) = softmax(g_s(x) / tau_s)
        L = mean over pairs (t, s), s != t, of  mean_i sum_k -P_t(x_t)_ik log P_s(x_s)_ik

    ``teacher`` holds the teacher outputs of the global crops [N, K] and ``student`` the
    student outputs of every crop [N, K], global crops first and in the same order, so
    student[i] and teacher[i] come from the same crop and that pair is skipped. The
    teacher side gets no gradient; ``center`` is [K].
    """
    targets = [F.softmax((t.detach().float() - center) / teacher_temperature, dim=-1) for t in teacher]
    log_probs = [F.log_softmax(s.float() / student_temperature, dim=-1) for s in student]
    terms = [-(q * log_probs[v]).sum(-1).mean()
             for t, q in enumerate(targets) for v in range(len(log_probs)) if v != t]
    if not terms:
        raise ValueError("DINO needs at least two crops: one teacher crop and one other student crop")
    return sum(terms) / len(terms)


def cosine_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Feature distillation by cosine similarity (the student's features are pulled towards the
    frozen teacher's direction):

        L = mean_i (1 - <s_i, t_i> / (||s_i|| ||t_i||))

    with s the student's projected features [N, D] and t the frozen teacher's features [N, D],
    which get no gradient. 0 when every student vector points where its teacher's does, 2 when
    opposite; the norms are free, so only directions are distilled."""
    return (1 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=-1)).mean()
