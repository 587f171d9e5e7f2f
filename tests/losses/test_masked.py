"""MAE's loss against a per-patch reference written here; only masked patches count."""
import pytest
import torch

from mvssl.losses import mae_loss


def reference(prediction, patches, masked, normalise):
    total, count = 0.0, 0
    for n in range(patches.shape[0]):
        for l in range(patches.shape[1]):
            if not masked[n, l]:
                continue
            t = patches[n, l].double()
            if normalise:
                t = (t - t.mean()) / (t.var() + 1e-6).sqrt()  # var: unbiased (/(P-1)), as the paper's code
            total += float(((prediction[n, l].double() - t) ** 2).mean())
            count += 1
    return total / count


@pytest.mark.parametrize("normalise", [True, False])
def test_matches_the_reference(normalise):
    g = torch.Generator().manual_seed(0)
    prediction, patches = torch.randn(3, 5, 12, generator=g), torch.rand(3, 5, 12, generator=g)
    masked = torch.rand(3, 5, generator=g) < 0.6
    assert mae_loss(prediction, patches, masked, normalise).item() == pytest.approx(
        reference(prediction, patches, masked, normalise), rel=1e-5)


def test_visible_patches_get_no_gradient_and_the_target_none():
    g = torch.Generator().manual_seed(1)
    prediction = torch.randn(2, 4, 6, generator=g, requires_grad=True)
    patches = torch.rand(2, 4, 6, generator=g, requires_grad=True)
    masked = torch.tensor([[True, False, True, False], [False, False, True, True]])
    mae_loss(prediction, patches, masked).backward()
    assert (prediction.grad[~masked] == 0).all() and (prediction.grad[masked].abs().sum(-1) > 0).all()
    assert patches.grad is None


def test_a_perfect_normalised_prediction_scores_zero():
    patches = torch.rand(2, 3, 8)
    target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
    assert mae_loss(target, patches, torch.ones(2, 3, dtype=torch.bool)).item() < 1e-10
