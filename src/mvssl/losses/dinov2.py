"""DINOv2's two additions to DINO (Oquab et al. 2023, Sec. 4), as pure functions: iBOT's
masked-patch self-distillation and the KoLeo regulariser."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def ibot_patch_loss(student: torch.Tensor, teacher: torch.Tensor, masked: torch.Tensor, centre: torch.Tensor,
                    student_temperature: float = 0.1, teacher_temperature: float = 0.04) -> torch.Tensor:
    """iBOT's masked-image-modelling loss (Zhou et al. 2022, Eq. 2; DINOv2 Sec. 4 "Patch-level
    objective"): at every patch hidden from the student (its embedding replaced by a mask
    token), the student's head output predicts the teacher's, which saw the patch,

        P_t = softmax((g_t(u)_l - c) / tau_t),   P_s = softmax(g_s(u_hat)_l / tau_s)
        L = (1 / B) sum_b (1 / |M_b|) sum_{l in M_b} sum_k -P_t,lk log P_s,lk

    each image's masked patches averaged, then the B images averaged (an image with no masked
    patch counts with 0). ``student`` and ``teacher`` [M, K]: the outputs at the masked
    patches, in the order of ``masked`` [B, L] bool's True entries (row-major, image by
    image: ``tokens[masked]``); ``centre`` [K]. The teacher side gets no gradient."""
    if student.shape != teacher.shape or len(student) != int(masked.sum()):
        raise ValueError(f"iBOT: student {tuple(student.shape)} and teacher {tuple(teacher.shape)} must both hold "
                         f"one row per masked patch ({int(masked.sum())})")
    targets = F.softmax((teacher.detach().float() - centre) / teacher_temperature, dim=-1)
    cross_entropy = -(targets * F.log_softmax(student.float() / student_temperature, dim=-1)).sum(-1)
    per_image = masked.sum(1, keepdim=True).clamp_min(1).float()
    weights = (1.0 / per_image).expand_as(masked)[masked]
    return (cross_entropy * weights).sum() / len(masked)


def koleo_loss(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """The Kozachenko-Leonenko differential-entropy regulariser (Sablayrolles et al. 2019;
    DINOv2 Sec. 4 "KoLeo regularizer"), on the L2-normalised features of a batch,

        L = -(1 / n) sum_i log(d_n,i + eps),   d_n,i = min_{j != i} || x_i - x_j ||

    which pushes every feature away from its nearest neighbour: it spreads the batch
    uniformly over the sphere. ``x`` [n, D], n >= 2; the neighbour is found by the largest
    cosine similarity (the same as the smallest distance on the sphere), without gradient."""
    if len(x) < 2:
        raise ValueError(f"KoLeo needs at least 2 features, got {len(x)}")
    x = F.normalize(x.float(), dim=-1, eps=eps)
    with torch.no_grad():
        similarity = x @ x.t()
        similarity.fill_diagonal_(-2.0)  # below any cosine: a sample is never its own neighbour
        neighbour = similarity.argmax(1)
    distance = (x - x[neighbour]).norm(dim=-1)
    return -(distance + eps).log().mean()
