"""ER-BYOL / ER-SimSiam / ER-DINO / ER-SwAV: the loss is the base loss made
"reconstruction minus entropy", and gradients go only where the paper sends them."""
import pytest
import torch

from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.losses import byol_loss, dino_loss
from mvssl.losses.er import marginal_entropy, vmf_kde_entropy
from mvssl.losses.er_objectives import er_continuous_loss, er_discrete_loss
from mvssl.methods import METHODS
from mvssl.nn import build_backbone

SMALL = {"byol": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=32),
         "simsiam": dict(proj_hidden_dim=32, proj_dim=16, pred_hidden_dim=8),
         "dino": dict(head_hidden_dim=32, bottleneck_dim=16, out_dim=64),
         "swav": dict(proj_hidden_dim=32, proj_dim=16, n_prototypes=20, freeze_prototypes_steps=0)}


def pair(name, **er):
    """The base method and its ER variant with identical initial weights."""
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4)
    base = METHODS[name](backbone, dim, **SMALL[name])
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4)
    variant = METHODS[f"er-{name}"](backbone, dim, **SMALL[name], **er)
    variant.load_state_dict(base.state_dict())
    return base, variant


def views(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


@pytest.mark.parametrize("name,per_unit_cosine", [("byol", 2.0), ("simsiam", 1.0)])
def test_continuous_er_loss_is_kappa_scaled_reconstruction_minus_kde_entropy(name, per_unit_cosine):
    base, variant = pair(name, er_kappa=5.0, er_entropy_weight=0.7)
    x = views()
    out = base(x)
    expected = 5.0 / per_unit_cosine * out.loss - 0.7 * sum(
        vmf_kde_entropy(z, 5.0, "average", include_constant=False) for z in out.embeddings) / 2
    assert float(variant(x).loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


@pytest.mark.parametrize("name", ["dino", "swav"])
def test_discrete_er_loss_is_the_base_loss_minus_the_batch_mean_assignment_entropy(name):
    base, variant = pair(name, er_entropy_weight=0.5)
    x = views()
    out = base(x)
    if name == "dino":
        logits = out.embeddings
        temperature = base.student_temperature
    else:
        logits = [z @ base.prototypes.weight.t() for z in out.embeddings]
        temperature = base.temperature
    entropy = sum(marginal_entropy(torch.softmax(s / temperature, 1)) for s in logits) / 2
    assert float(variant(x).loss.detach()) == pytest.approx(float((out.loss - 0.5 * entropy).detach()), rel=1e-5)


def test_er_byol_sends_no_gradient_to_the_ema_target_and_entropy_reaches_the_projector():
    _, variant = pair("byol")
    variant(views()).loss.backward()
    assert all(p.grad is None for p in variant.target_backbone.parameters())
    assert all(p.grad is None for p in variant.target_projector.parameters())
    assert variant.projector[0].weight.grad.abs().sum() > 0
    # with the reconstruction switched off, the predictor gets nothing: the entropy is of the projections
    _, entropy_only = pair("byol", er_reconstruction_weight=0.0)
    entropy_only(views()).loss.backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in entropy_only.predictor.parameters())
    assert entropy_only.projector[0].weight.grad.abs().sum() > 0


def test_er_simsiam_keeps_the_stop_gradient_of_simsiam():
    """Entropy weight 0: the ER loss is kappa * SimSiam's, so every gradient is kappa times
    SimSiam's (a gradient through the stop-gradient target would break the ratio)."""
    base, variant = pair("simsiam", er_kappa=3.0, er_entropy_weight=0.0)
    x = views()
    base(x).loss.backward()
    variant(x).loss.backward()
    for (name, p), q in zip(base.named_parameters(), variant.parameters()):
        if p.grad is not None:
            # float32 rounding of the two backward passes differs by ~1e-5 relative (seen up to 2e-4 on
            # some elements); a gradient through the stop-gradient target would change them by O(1)
            assert torch.allclose(3.0 * p.grad, q.grad, rtol=1e-3, atol=1e-5), name


def test_continuous_objective_gives_no_gradient_to_the_target_projection():
    g = torch.Generator().manual_seed(0)
    prediction, target, projection = (torch.randn(8, 6, generator=g, requires_grad=True) for _ in range(3))
    loss, logs = er_continuous_loss(byol_loss(prediction, target), 2.0, [projection], kappa=4.0)
    loss.backward()
    assert target.grad is None
    assert prediction.grad.abs().sum() > 0 and projection.grad.abs().sum() > 0
    assert set(logs) == {"er_reconstruction_error", "er_entropy_up_to_constant"}


def test_discrete_objective_gives_no_gradient_to_the_teacher():
    g = torch.Generator().manual_seed(0)
    student = [torch.randn(8, 10, generator=g, requires_grad=True) for _ in range(2)]
    teacher = [torch.randn(8, 10, generator=g, requires_grad=True) for _ in range(2)]
    loss, _ = er_discrete_loss(dino_loss(student, teacher, torch.zeros(10)), student, 0.1)
    loss.backward()
    assert all(t.grad is None for t in teacher)
    assert all(s.grad.abs().sum() > 0 for s in student)


def test_er_swav_entropy_leaves_frozen_prototypes_alone():
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4)
    method = METHODS["er-swav"](backbone, dim, **{**SMALL["swav"], "freeze_prototypes_steps": 10})
    method(views()).loss.backward()
    assert float(method.prototypes.weight.grad.abs().sum()) == 0
    assert method.projector[0].weight.grad.abs().sum() > 0


def test_er_keys_are_config_keys_and_bad_values_are_named():
    cfg = resolve({"method": {"name": "er-byol", "er_kappa": 20, "base_momentum": 0.9}})
    assert cfg["method"]["er_kappa"] == 20.0 and cfg["method"]["base_momentum"] == 0.9
    assert "er_kappa" not in resolve({"method": {"name": "er-dino"}})["method"]  # discrete: no kappa
    with pytest.raises(ConfigError, match="er_kappa"):
        resolve({"method": {"name": "er-dino", "er_kappa": 3.0}})
    backbone, dim = build_backbone("convnet", width=4)
    with pytest.raises(ValueError, match="method.er_entropy_weight"):
        METHODS["er-simsiam"](backbone, dim, er_entropy_weight=-1.0)
