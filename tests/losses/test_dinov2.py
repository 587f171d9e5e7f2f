"""DINOv2's iBOT patch loss and KoLeo regulariser: against references written here (loops over
images and samples in float64), their gradients, and agreement with lightly's
``IBOTPatchLoss`` and ``KoLeoLoss`` (skipped without lightly >= 1.6)."""
import math

import pytest
import torch

from mvssl.losses import ibot_patch_loss, koleo_loss


def random_case(seed: int, b: int = 6, rows: int = 4, cols: int = 5, k: int = 32, empty_image: bool = True):
    g = torch.Generator().manual_seed(seed)
    masked = torch.rand(b, rows * cols, generator=g) < 0.4
    if empty_image:
        masked[0] = False  # an image the student saw whole
    m = int(masked.sum())
    student = torch.randn(m, k, generator=g) * 2
    teacher = torch.randn(m, k, generator=g) * 2
    centre = torch.randn(k, generator=g) * 0.3
    return student, teacher, masked, centre


def reference_ibot(student, teacher, masked, centre, ts, tt) -> float:
    """Image by image, patch by patch: the mean over images of the mean over its masked patches
    of the cross-entropy H(softmax((t - c) / tt), softmax(s / ts))."""
    total, row = 0.0, 0
    for image in masked:
        terms = []
        for hidden in image.tolist():
            if not hidden:
                continue
            p_t = torch.softmax((teacher[row].double() - centre.double()) / tt, 0)
            log_p_s = torch.log_softmax(student[row].double() / ts, 0)
            terms.append(-float((p_t * log_p_s).sum()))
            row += 1
        total += sum(terms) / len(terms) if terms else 0.0
    return total / len(masked)


def reference_koleo(x, eps=1e-8) -> float:
    """-mean_i log(min_{j != i} ||x_i/|x_i| - x_j/|x_j||| + eps), by a double loop."""
    unit = [v.double() / v.double().norm() for v in x]
    logs = []
    for i, u in enumerate(unit):
        nearest = min(float((u - w).norm()) for j, w in enumerate(unit) if j != i)
        logs.append(math.log(nearest + eps))
    return -sum(logs) / len(logs)


@pytest.mark.parametrize("seed, ts, tt", [(0, 0.1, 0.04), (1, 0.2, 0.07), (2, 1.0, 1.0)])
def test_ibot_matches_the_reference_written_here(seed, ts, tt):
    student, teacher, masked, centre = random_case(seed)
    got = ibot_patch_loss(student, teacher, masked, centre, ts, tt)
    assert got.item() == pytest.approx(reference_ibot(student, teacher, masked, centre, ts, tt), rel=1e-5)


def test_ibot_gradient_reaches_the_student_only_and_vanishes_when_it_matches_the_teacher():
    student, teacher, masked, centre = random_case(3)
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    ibot_patch_loss(student, teacher, masked, centre).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    # d/ds of H(p_t, softmax(s / ts)) = (softmax(s / ts) - p_t) / ts, weighted 1 / (B |M_b|)
    per_image = masked.sum(1).clamp_min(1).double()
    weights = (1 / per_image).unsqueeze(1).expand_as(masked)[masked] / len(masked)
    p_t = torch.softmax((teacher.detach().double() - centre.double()) / 0.04, 1)
    expected = (torch.softmax(student.detach().double() / 0.1, 1) - p_t) / 0.1 * weights[:, None]
    assert torch.allclose(student.grad.double(), expected, atol=1e-6)


def test_ibot_refuses_rows_that_are_not_the_masked_patches():
    student, teacher, masked, centre = random_case(0)
    with pytest.raises(ValueError, match="one row per masked patch"):
        ibot_patch_loss(student[1:], teacher[1:], masked, centre)


@pytest.mark.parametrize("seed, n, d", [(0, 16, 8), (1, 64, 32), (2, 5, 3)])
def test_koleo_matches_the_reference_written_here(seed, n, d):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 3 + 1
    assert koleo_loss(x).item() == pytest.approx(reference_koleo(x), rel=1e-5)


def test_koleo_rewards_spread_and_its_gradient_pushes_neighbours_apart():
    g = torch.Generator().manual_seed(4)
    spread = torch.randn(64, 16, generator=g)
    bunched = torch.randn(64, 16, generator=g) * 0.05 + torch.ones(16)
    assert koleo_loss(bunched) > koleo_loss(spread) + 1.0
    x = bunched.clone().requires_grad_(True)
    before = koleo_loss(x)
    before.backward()
    with torch.no_grad():
        after = koleo_loss(x - 0.05 * x.grad)
    assert after < before  # a gradient step spreads the batch


LIGHTLY_CASES = [(0, 8, 4, 4, 64, 0.1, 0.04), (1, 16, 6, 6, 256, 0.1, 0.07), (2, 4, 3, 5, 32, 0.5, 0.2)]


@pytest.mark.parametrize("seed, b, rows, cols, k, ts, tt", LIGHTLY_CASES)
def test_ibot_agrees_with_lightly(seed, b, rows, cols, k, ts, tt):
    loss_module = pytest.importorskip("lightly.loss.ibot_loss")
    student, teacher, masked, centre = random_case(seed, b, rows, cols, k)
    theirs = loss_module.IBOTPatchLoss(output_dim=k, teacher_temp=tt, student_temp=ts)
    theirs.center.center.copy_(centre.view(1, k))  # their running centre starts where ours is
    s_ours, s_theirs = student.clone().requires_grad_(True), student.clone().requires_grad_(True)
    ours = ibot_patch_loss(s_ours, teacher, masked, centre, ts, tt)
    reference = theirs(teacher, s_theirs, masked.view(b, rows, cols))
    ours.backward()
    reference.backward()
    assert abs(ours.item() - reference.item()) < 1e-4
    assert (s_ours.grad - s_theirs.grad).abs().max() < 1e-4


@pytest.mark.parametrize("seed, n, d", [(0, 16, 8), (1, 256, 128), (2, 3, 2)])
def test_koleo_agrees_with_lightly(seed, n, d):
    loss_module = pytest.importorskip("lightly.loss.koleo_loss")
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 2
    x_ours, x_theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours, reference = koleo_loss(x_ours), loss_module.KoLeoLoss()(x_theirs)
    ours.backward()
    reference.backward()
    assert abs(ours.item() - reference.item()) < 1e-4
    assert (x_ours.grad - x_theirs.grad).abs().max() < 1e-4
