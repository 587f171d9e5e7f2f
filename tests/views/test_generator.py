"""InfoMin's view generator: invertibility, log-determinants against autograd, and the
direction of the adversarial (min over g, max over the critic) updates."""
import math

import pytest
import torch
from torch.autograd.functional import jacobian

from mvssl.colour import channel_ranges, rgb_to_ydbdr
from mvssl.views.generator import Coupling, ViewGenerator
from mvssl.methods.view_learning import TwoViewCritic, learning_step, nce_bound


def _randomised(gen: ViewGenerator, scale: float = 0.5, seed: int = 0) -> ViewGenerator:
    """Move every weight off its (identity) initialisation so the flow is a real nonlinear map."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in gen.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return gen


@pytest.mark.parametrize("space", ["rgb", "ydbdr"])
@pytest.mark.parametrize("coupling", ["additive", "affine", "mixed"])
@pytest.mark.parametrize("linear_layers", [0, 2])
def test_inverse_undoes_forward(space, coupling, linear_layers):
    gen = _randomised(ViewGenerator(space, num_layers=6, coupling=coupling, linear_layers=linear_layers)).double()
    x = torch.rand(4, 3, 5, 6, dtype=torch.float64)
    y, _ = gen(x)
    assert (y - gen.front(x)).abs().max() > 0.1  # the flow really changed the colours
    torch.testing.assert_close(gen.inverse(y), x, atol=1e-9, rtol=0)
    torch.testing.assert_close(gen(gen.inverse(y))[0], y, atol=1e-9, rtol=0)


def test_untrained_generator_is_the_raw_colour_space():
    x = torch.rand(2, 3, 4, 4)
    lo, hi = channel_ranges("ydbdr").unbind(1)
    raw = (rgb_to_ydbdr(x) - lo[:, None, None]) / (hi - lo)[:, None, None] * 2 - 1
    v1, v23 = ViewGenerator("ydbdr", num_layers=4, linear_layers=2).views(x)
    torch.testing.assert_close(torch.cat([v1, v23], 1), raw, atol=1e-5, rtol=0)
    assert v1.shape[1] == 1 and v23.shape[1] == 2


def _per_pixel_logdets(fn, x):
    """log|det| of each pixel's 3x3 Jacobian, summed over pixels, from autograd's full Jacobian;
    also the largest entry linking two different pixels or images (zero for a per-pixel map)."""
    b, c, h, w = x.shape
    jac = jacobian(fn, x).reshape(b, c, h * w, b, c, h * w)
    logdets = [sum(torch.linalg.slogdet(jac[i, :, p, i, :, p])[1].item() for p in range(h * w)) for i in range(b)]
    same = torch.eye(b, dtype=torch.bool)[:, None, None, :, None, None] & \
        torch.eye(h * w, dtype=torch.bool)[None, None, :, None, None, :]
    cross = jac[~same.expand_as(jac)].abs().max().item()
    return torch.tensor(logdets, dtype=torch.float64), cross


@pytest.mark.parametrize("space", ["rgb", "ydbdr"])
@pytest.mark.parametrize("coupling", ["affine", "mixed", "additive"])
def test_logdet_matches_autograd_jacobian(space, coupling):
    gen = _randomised(ViewGenerator(space, num_layers=4, coupling=coupling, linear_layers=1), seed=1).double()
    x = torch.rand(2, 3, 2, 3, dtype=torch.float64)
    _, logdet = gen(x)
    ref, cross = _per_pixel_logdets(lambda t: gen(t)[0], x)
    assert cross < 1e-12  # pixels never mix: the generator is 1x1
    torch.testing.assert_close(logdet, ref, atol=1e-8, rtol=0)
    if coupling == "additive":  # only the fixed front end changes volume
        torch.testing.assert_close(logdet, torch.full_like(logdet, 6 * gen.front.logdet_per_pixel))


def test_volume_preserving_layer_has_zero_logdet_and_unit_jacobian():
    layer = Coupling([0], [1, 2], affine=False).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.7)
    x = torch.randn(3, 3, 2, 2, dtype=torch.float64)
    y, logdet = layer(x)
    assert torch.equal(logdet, torch.zeros(3, dtype=torch.float64))
    ref, _ = _per_pixel_logdets(lambda t: layer(t)[0], x)
    torch.testing.assert_close(ref, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    assert (y - x).abs().max() > 0.1


def test_affine_scale_is_bounded_and_rgb_front_end_volume():
    assert ViewGenerator("rgb", 0).front.logdet_per_pixel == pytest.approx(3 * math.log(2))
    layer = Coupling([0, 1], [2], affine=True)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(50.0)
    _, logdet = layer(torch.ones(1, 3, 2, 2))
    assert logdet.item() <= 4 * 1.0 + 1e-6  # tanh-bounded log-scale: at most 1 per pixel per channel


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="lab"):
        ViewGenerator("lab")
    with pytest.raises(ValueError, match="bogus"):
        ViewGenerator("rgb", coupling="bogus")
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        ViewGenerator("rgb")(torch.rand(2, 1, 4, 4))


# ------------------------------------------------------------------ adversarial updates


def _correlated_batch(n=24, size=8, seed=0):
    """Images whose three channels share a common signal, so the views carry mutual information."""
    g = torch.Generator().manual_seed(seed)
    common = torch.rand(n, 1, size, size, generator=g)
    return (0.7 * common + 0.3 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)


def _players(seed=0):
    torch.manual_seed(seed)
    gen = _randomised(ViewGenerator("rgb", num_layers=2, coupling="mixed"), scale=0.3, seed=seed)
    critic = TwoViewCritic(num_classes=3, width=4, proj_dim=8, temperature=0.5)
    return gen, critic


def _bound(gen, critic, x):
    with torch.no_grad():  # train-mode BN: batch statistics, so this is deterministic for a fixed batch
        return nce_bound(critic.nce_loss(critic.encode(gen.views(x))), len(x))


def _sgd(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def test_generator_step_lowers_and_critic_step_raises_the_bound():
    x = _correlated_batch()
    gen, critic = _players()
    start = _bound(gen, critic, x)
    learning_step(gen, critic, "unsupervised", x)
    g_state = {k: v.clone() for k, v in gen.state_dict().items()}
    _sgd(gen.parameters(), 1e-2)
    after_gen = _bound(gen, critic, x)
    gen.load_state_dict(g_state)
    _sgd(critic.parameters(), 1e-2)
    after_critic = _bound(gen, critic, x)
    assert after_gen < start - 1e-5
    assert after_critic > start + 1e-5


def test_generator_gets_the_reversed_nce_gradient_plus_the_weighted_ce_gradient():
    x, xl, yl = _correlated_batch(seed=1), _correlated_batch(n=12, seed=2), torch.arange(12) % 3
    gen, critic = _players(seed=3)
    learning_step(gen, critic, "semi-supervised", x, (xl, yl), ce_weight=2.0)
    got = [p.grad.clone() for p in gen.parameters()]
    critic_got = [p.grad.clone() for p in critic.encoders.parameters()]
    # independent reference: the two terms' gradients taken separately
    params = list(gen.parameters())
    nce = critic.nce_loss(critic.encode(gen.views(x)))
    ce = critic.ce_loss(critic.encode(gen.views(xl)), yl)
    d_nce = torch.autograd.grad(nce, params, retain_graph=True)
    d_ce = torch.autograd.grad(ce, params, retain_graph=True)
    enc = list(critic.encoders.parameters())
    d_enc = torch.autograd.grad(nce + 2.0 * ce, enc)
    for g_, a, b in zip(got, d_nce, d_ce):
        torch.testing.assert_close(g_, -a + 2.0 * b, atol=1e-6, rtol=1e-4)
    for g_, r in zip(critic_got, d_enc):  # the encoders descend both terms
        torch.testing.assert_close(g_, r, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("mode", ["semi-supervised", "supervised"])
def test_held_out_ce_fits_the_classifiers_on_one_batch_and_moves_the_generator_by_the_other(mode):
    x, xl, xh = _correlated_batch(seed=1), _correlated_batch(n=12, seed=2), _correlated_batch(n=12, seed=5)
    yl, yh = torch.arange(12) % 3, (torch.arange(12) + 1) % 3
    gen, critic = _players(seed=4)
    out = learning_step(gen, critic, mode, x if mode != "supervised" else None, (xl, yl), ce_weight=2.0, held=(xh, yh))
    got = [p.grad.clone() for p in gen.parameters()]
    critic_params = [p for p in critic.parameters() if p.grad is not None]
    critic_got = [p.grad.clone() for p in critic_params]
    # independent reference: the generator's gradient is the reversed NCE plus the held batch's CE
    # only; the critic's is the NCE plus the CE of the fit batch on views cut off from the generator
    params = list(gen.parameters())
    nce = critic.nce_loss(critic.encode(gen.views(x))) if mode != "supervised" else torch.zeros(())
    ce_fit = critic.ce_loss(critic.encode([v.detach() for v in gen.views(xl)]), yl)
    ce_held = critic.ce_loss(critic.encode(gen.views(xh)), yh)
    d_held = torch.autograd.grad(ce_held, params, retain_graph=True)
    d_nce = (torch.autograd.grad(nce, params, retain_graph=True) if mode != "supervised"
             else [torch.zeros_like(p) for p in params])
    d_critic = torch.autograd.grad(nce + 2.0 * ce_fit, critic_params)
    for g_, a, b in zip(got, d_nce, d_held):
        torch.testing.assert_close(g_, -a + 2.0 * b, atol=1e-6, rtol=1e-4)
    assert len(critic_params) == len(list(critic.parameters())) - (0 if mode != "supervised" else
                                                                    len(list(critic.heads.parameters())))
    for g_, r in zip(critic_got, d_critic):
        torch.testing.assert_close(g_, r, atol=1e-6, rtol=1e-4)
    assert out["held_ce"] == pytest.approx(float(ce_held.detach()), rel=1e-5) \
        and out["ce"] == pytest.approx(float(ce_fit.detach()), rel=1e-5)


def test_contrastive_mode_leaves_the_generator_alone_and_modes_need_their_batches():
    x = _correlated_batch()
    gen, critic = _players()
    learning_step(gen, critic, "contrastive", x)
    assert all(p.grad is None for p in gen.parameters())
    assert all(p.grad is not None for p in critic.encoders.parameters())
    with pytest.raises(ValueError, match="labelled batch"):
        learning_step(gen, critic, "supervised", None, None)
    with pytest.raises(ValueError, match="bogus"):
        learning_step(gen, critic, "bogus", x)
    with pytest.raises(FloatingPointError, match="not finite"):
        learning_step(gen, critic, "unsupervised", torch.full_like(x, float("nan")))


@pytest.mark.parametrize("space", ["rgb", "ydbdr"])
def test_the_oracle_is_one_linear_coupling_that_takes_the_nuisance_colour_out_of_view_1(space):
    """The design argument's oracle is in the generator family (one linear layer within its
    bound): view 1 no longer moves along the nuisance colour and still moves along the label's;
    view 2 is the raw one. ``colour_snr`` agrees with these finite differences."""
    from mvssl.experiments.view_learning_data import (LABEL_COLOUR, NUISANCE_COLOUR, colour_snr,
                                                      oracle_generator)

    gen, raw = oracle_generator(space), ViewGenerator(space, num_layers=0)
    layer = gen.layers[0]
    assert layer.theta.abs().max() < 10  # tanh not saturated: c inside the layer's bound
    grey = torch.full((1, 3, 1, 1), 0.5)
    def change(g, k, direction):
        return (g.views(grey + 0.1 * torch.tensor(direction)[None, :, None, None])[k] - g.views(grey)[k]).norm().item()
    assert change(gen, 0, NUISANCE_COLOUR) < 1e-5 and change(gen, 0, LABEL_COLOUR) > 0.1
    assert change(gen, 1, NUISANCE_COLOUR) == pytest.approx(change(raw, 1, NUISANCE_COLOUR))
    snr = colour_snr(gen, {"label": LABEL_COLOUR, "nuisance": NUISANCE_COLOUR})
    assert snr["view1"]["nuisance"] < 1e-5 < 0.1 < snr["view1"]["label"]


def test_colour_snr_of_the_raw_rgb_split_is_each_channel_share_of_the_direction():
    """Raw RGB: view 1 is R alone and view 2 is G, B (each scaled alike), so a unit colour d
    shows in view 1 with |d_R| and in view 2 with ||d_GB||, over a noise amplitude of 1 and
    sqrt(2) times the scale."""
    from mvssl.experiments.view_learning_data import colour_snr

    d = torch.tensor([0.3, -0.5, 0.8])
    snr = colour_snr(ViewGenerator("rgb", num_layers=0), {"d": tuple(d.tolist())})
    u = d / d.norm()
    assert snr["view1"]["d"] == pytest.approx(float(u[0].abs()), rel=1e-5)
    assert snr["view2"]["d"] == pytest.approx(float(u[1:].norm() / 2 ** 0.5), rel=1e-5)


def test_tensor_adam_is_adam_with_one_second_moment_per_tensor_and_rotation_equivariant():
    from mvssl.methods.view_learning import TensorAdam

    target = torch.tensor([[1.0, -2.0, 0.5]])

    def loss(theta):
        return ((theta - target) ** 2 * torch.tensor([[1.0, 3.0, 0.2]])).sum()

    theta = torch.zeros(1, 3, requires_grad=True)
    opt = TensorAdam([theta], lr=0.1)
    ref, m, v = torch.zeros(1, 3), torch.zeros(1, 3), 0.0  # the update written out
    for t in range(1, 6):
        opt.zero_grad()
        loss(theta).backward()
        opt.step()
        r = ref.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(r), r)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * float((g ** 2).mean())
        ref = ref - 0.1 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)) ** 0.5 + 1e-8)
        torch.testing.assert_close(theta.detach(), ref, atol=1e-6, rtol=1e-5)

    # a rotation of the parameters' basis rotates the iterates (per-entry Adam does not)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
    results = {}
    for name, optimizer in (("tensor", TensorAdam), ("adam", torch.optim.Adam)):
        a = torch.zeros(1, 3, requires_grad=True)
        b = torch.zeros(1, 3, requires_grad=True)  # b = a @ q.T in the rotated basis
        oa, ob = optimizer([a], lr=0.05), optimizer([b], lr=0.05)
        for _ in range(20):
            for o, p, f in ((oa, a, lambda p: loss(p)), (ob, b, lambda p: loss(p @ q))):
                o.zero_grad()
                f(p).backward()
                o.step()
        results[name] = float((b.detach() - a.detach() @ q.T).abs().max())
    assert results["tensor"] < 1e-5 and results["adam"] > 1e-2
