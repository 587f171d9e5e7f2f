import pytest
import torch

from tests.methods.tiny_training import train_on_source, view_source
from mvssl.losses import info_nce
from mvssl.methods import METHODS, MoCo
from mvssl.nn import build_backbone


def _moco(**kw):
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4, in_channels=3)
    return MoCo(backbone, dim, num_samples=kw.pop("num_samples", 1000), proj_hidden_dim=32, proj_dim=16, **kw)


def _views(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(2)]


def test_registered_with_paper_defaults():
    assert METHODS["moco"] is MoCo
    m = MoCo(*build_backbone("convnet", width=4), num_samples=4000)
    assert (m.temperature, m.momentum, len(m.queue), m.symmetric) == (0.2, 0.99, 256, False)
    assert [type(x).__name__ for x in m.projector] == ["Linear", "ReLU", "Linear"]  # v2 head: no BN
    assert m.projector[0].out_features == 2048 and m.projector[-1].out_features == 128


def test_loss_uses_the_queue_before_this_steps_keys_are_enqueued():
    m = _moco(queue_size=20, temperature=0.3)
    views = _views()
    queue_before = m.queue.keys.clone()
    out = m(views)
    with torch.no_grad():
        q = m.projector(m.backbone(views[0]))
        k = m.key_projector(m.key_backbone(views[1]))
        expected = info_nce(q, k, queue_before, 0.3)
        torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m.queue.keys[:8], torch.nn.functional.normalize(k, dim=1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(m.queue.keys[8:], queue_before[8:])
    assert int(m.queue.pointer) == 8
    assert out.features.shape == (8, 32)


def test_queue_is_updated_in_training_only():
    m = _moco(queue_size=20).eval()
    before = m.queue.keys.clone()
    m(_views())
    assert torch.equal(m.queue.keys, before) and int(m.queue.pointer) == 0


def test_no_gradient_reaches_the_key_encoder_or_queue():
    m = _moco(queue_size=16)
    out = m(_views())
    out.loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in
               list(m.key_backbone.parameters()) + list(m.key_projector.parameters()))
    assert not m.queue.keys.requires_grad
    assert all(p.grad is not None for p in m.backbone.parameters())
    trainable = {id(p) for p in m.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in list(m.backbone.parameters()) + list(m.projector.parameters())}


def test_key_encoder_follows_the_query_encoder_by_momentum():
    m = _moco(queue_size=16, momentum=0.9)
    for p in m.backbone.parameters():
        p.data.add_(1.0)
    old = [p.clone() for p in m.key_backbone.parameters()]
    m.on_step_end(0, 10)
    for k, o, q in zip(m.key_backbone.parameters(), old, m.backbone.parameters()):
        torch.testing.assert_close(k, 0.9 * o + 0.1 * q)


def test_symmetric_loss_averages_both_directions_and_enqueues_both_keys():
    m = _moco(queue_size=32, symmetric=True)
    views = _views()
    queue_before = m.queue.keys.clone()
    out = m(views)
    with torch.no_grad():
        q = m.projector(m.backbone(torch.cat(views))).chunk(2)  # the same BN batches as the method
        k = m.key_projector(m.key_backbone(torch.cat(views[::-1]))).chunk(2)[::-1]
        expected = (info_nce(q[0], k[1], queue_before, 0.2) + info_nce(q[1], k[0], queue_before, 0.2)) / 2
    torch.testing.assert_close(out.loss, expected, rtol=1e-4, atol=1e-4)
    assert int(m.queue.pointer) == 16


def test_needs_two_views_and_a_queue_smaller_than_the_dataset():
    with pytest.raises(ValueError):
        _moco(queue_size=8)(_views()[:1])
    with pytest.raises(ValueError):
        _moco(queue_size=1000, num_samples=1000)


def test_tiny_training_run_lowers_the_loss():
    m = _moco(queue_size=128, momentum=0.9, num_samples=512)
    losses = train_on_source(m, view_source("simclr", 2), steps=40)
    first, last = sum(losses[4:10]) / 6, sum(losses[-6:]) / 6  # after the queue holds real keys
    assert last < first - 0.1, (first, last)
