"""BYOL's EMA target and schedule, SimSiam's stop-gradient, and tiny runs of both."""
import math

import torch

from mvssl.methods import BYOL, SimSiam
from mvssl.nn import build_backbone, cosine_momentum
from mvssl.views import multicrop
from tests.methods.tiny_training import assert_ema_step, first_and_last, train_losses


def test_byol_target_keeps_its_own_bn_statistics_as_the_reference_does():
    """The EMA moves parameters only (BYOL's and DINO's reference code): the target's
    BatchNorm running statistics are those of its own forward passes, not the online's."""
    backbone, dim = build_backbone("convnet", width=4)
    method = BYOL(backbone, dim, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32)
    method(_views())
    online_bn, target_bn = method.projector[1], method.target_projector[1]
    own = target_bn.running_mean.clone()
    assert not torch.equal(own, torch.zeros_like(own))  # the target's forward pass updated them
    online_bn.running_mean.fill_(5.0)
    method.on_step_end(1, 10)
    assert torch.equal(target_bn.running_mean, own)


def test_byol_and_simsiam_normalise_each_view_in_its_own_batchnorm_pass():
    """As the reference code: view 1's projection does not depend on view 2's images."""
    for make in (lambda b, d: BYOL(b, d, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32),
                 lambda b, d: SimSiam(b, d, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=8)):
        torch.manual_seed(0)
        method = make(*build_backbone("convnet", width=4))
        views = _views()
        first = method(views).embeddings[0]
        other = [views[0], torch.randn_like(views[1]) * 3 + 1]
        torch.testing.assert_close(method(other).embeddings[0], first)


def test_cosine_momentum_schedule():
    for k, total in [(0, 100), (25, 100), (50, 100), (100, 100)]:
        expected = 1 - (1 - 0.99) * (math.cos(math.pi * k / total) + 1) / 2
        assert cosine_momentum(k, total, 0.99) == expected
    assert cosine_momentum(0, 10, 0.99) == 0.99 and cosine_momentum(10, 10, 0.99) == 1.0
    assert cosine_momentum(50, 100, 0.996) == 0.998


def _views(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


def test_byol_target_gets_no_gradient_and_follows_by_ema():
    backbone, dim = build_backbone("convnet", width=4)
    method = BYOL(backbone, dim, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32, base_momentum=0.99)
    method(_views()).loss.backward()
    assert all(p.grad is None for p in method.target_backbone.parameters())
    assert all(p.grad is None for p in method.target_projector.parameters())
    assert all(p.grad is not None for p in method.predictor.parameters())
    assert_ema_step(method, method.backbone, method.target_backbone, 0.99, shift=1.0)
    assert method.momentum == cosine_momentum(3, 10, 0.99)


def test_simsiam_target_branch_gets_no_gradient():
    """The projections z reach the loss twice: through the predictor (p = h(z)) and as
    targets. With the stop-gradient, all of z's gradient arrives through the predictor."""
    backbone, dim = build_backbone("convnet", width=4)
    method = SimSiam(backbone, dim, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=8)
    grads = {}

    def record(name, tensor):
        tensor.register_hook(lambda g: grads.update({name: g}))

    method.projector.register_forward_hook(lambda module, inputs, out: record("z", out))

    def predictor_input(module, inputs):  # a distinct node, so its gradient is the predictor path's alone
        x = inputs[0] * 1
        record("p_in", x)
        return (x,)

    method.predictor.register_forward_pre_hook(predictor_input)
    method(_views()).loss.backward()
    assert grads["z"].abs().max() > 0
    assert torch.allclose(grads["z"], grads["p_in"])


def test_simsiam_method_gradients_flow_only_through_predictions():
    backbone, dim = build_backbone("convnet", width=4)
    method = SimSiam(backbone, dim, proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=8)
    out = method(_views())
    out.loss.backward()
    assert all(p.grad is not None for p in method.predictor.parameters() if p.requires_grad)
    assert 0 < float(out.logs["z_std"]) < 1


def test_byol_tiny_training_lowers_the_loss():
    losses = train_losses(lambda b, d: BYOL(b, d, proj_hidden_dim=64, proj_dim=32, pred_hidden_dim=64), steps=30)
    first, last = first_and_last(losses)
    assert last < first - 0.3, losses


def test_byol_accepts_multicrop_views():
    losses = train_losses(lambda b, d: BYOL(b, d, proj_hidden_dim=64, proj_dim=32, pred_hidden_dim=64),
                          multicrop(16, 8, n_local=2), steps=20)
    first, last = first_and_last(losses)
    assert last < first - 0.3, losses


def test_simsiam_tiny_training_lowers_the_loss():
    losses = train_losses(lambda b, d: SimSiam(b, d, proj_hidden_dim=64, proj_dim=64, pred_hidden_dim=16),
                          steps=30, lr=1e-2)
    first, last = first_and_last(losses)
    assert last < first - 0.1, losses
