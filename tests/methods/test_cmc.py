import pytest
import torch
import torch.nn.functional as F

from tests.methods.tiny_training import train_on_source, view_source
from mvssl.build import resolve
from mvssl.losses import cmc_loss, view_pairs
from mvssl.methods import CMC, METHODS
from mvssl.nn import build_backbone
from mvssl.build import build_encoder_backbone, build_method


def _factory(in_channels=3):
    return build_backbone("convnet", width=4, in_channels=in_channels)


def _cmc(**kw):
    torch.manual_seed(0)
    return CMC(_factory, num_samples=kw.pop("num_samples", 50), proj_hidden_dim=32, proj_dim=16, **kw)


def _images(n=6, k=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, 16, 16, generator=g) * 4 - 2 for _ in range(k)]


@pytest.mark.parametrize("channels, in_channels", [("L,ab", [1, 2]), ("Y,DbDr", [1, 2]), ("Y,Db,Dr", [1, 1, 1]),
                                                   ("L,a,b", [1, 1, 1]), ("L,a,b,S", [1, 1, 1, 1])])
def test_one_encoder_per_view_with_its_channels(channels, in_channels):
    m = _cmc(channels=channels)
    assert METHODS["cmc"] is CMC
    assert [e.features[0].in_channels for e in m.backbone.encoders] == in_channels
    assert len(m.projectors) == len(in_channels)
    assert m.feature_dim == 32 * len(in_channels)
    out = m(_images())
    assert out.features.shape == (6, m.feature_dim) and len(out.embeddings) == len(in_channels)


@pytest.mark.parametrize("graph", ["core", "full"])
def test_loss_is_the_view_graph_sum(graph):
    m = _cmc(channels="Y,Db,Dr", graph=graph, temperature=0.1)
    x = _images()
    out = m(x)
    assert m.pairs == view_pairs(3, graph)
    torch.testing.assert_close(out.loss, cmc_loss(out.embeddings, view_pairs(3, graph), 0.1))


def _nce_reference(za, zb, tau):
    """-1/N sum_i log softmax_j(u_i . v_j / tau) at j = i, u and v the unit embeddings."""
    u, v = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    return -torch.log_softmax(u @ v.T / tau, dim=1).diagonal().mean()


@pytest.mark.parametrize("graph, n_pairs", [("core", 3), ("full", 6)])
def test_four_views_core_and_full_graph_against_a_reference(graph, n_pairs):
    m = _cmc(channels="L,a,b,S", graph=graph, temperature=0.1)
    out = m(_images())
    z = out.embeddings
    edges = [(0, 1), (0, 2), (0, 3)] if graph == "core" else [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert len(m.pairs) == n_pairs and sorted(m.pairs) == edges
    ref = sum(_nce_reference(z[i], z[j], 0.1) + _nce_reference(z[j], z[i], 0.1) for i, j in edges)
    torch.testing.assert_close(out.loss, ref, rtol=1e-5, atol=1e-5)


def test_four_view_prediction_has_a_decoder_per_directed_edge():
    m = _cmc(channels="L,a,b,S", graph="full", objective="predictive", target_size=4)
    assert len(m.decoders) == 12  # 6 pairs, both directions
    assert all(d[-1].out_features == 16 for d in m.decoders)  # every target is one channel pooled to 4 x 4
    assert torch.isfinite(m(_images()).loss)


def test_features_are_the_concatenated_view_features_of_the_first_image():
    m = _cmc().eval()
    x = _images(k=2)
    with torch.no_grad():
        single = m(x[:1]).features
        torch.testing.assert_close(single, m.backbone(x[0]))
        torch.testing.assert_close(m(x).features, single)  # one image per view: still image 0's features


def test_one_image_per_view_takes_view_v_from_image_v():
    m = _cmc().eval()
    x = _images(k=2)
    y = [x[0], _images(seed=9)[0]]
    with torch.no_grad():
        hx, hy = m.backbone.encode(x), m.backbone.encode(y)
    torch.testing.assert_close(hx[0], hy[0])  # L of image 0 in both
    assert not torch.allclose(hx[1], hy[1])  # ab from the second image
    with pytest.raises(ValueError):
        m.backbone.encode(_images(k=3))


def test_memory_bank_negatives_and_update():
    m = _cmc(negatives="bank", num_negatives=10, bank_momentum=0.5)
    idx = torch.tensor([3, 7, 11, 19, 23, 42])
    before = [b.memory.clone() for b in m.banks]
    g = torch.Generator().manual_seed(5)
    out = m(_images(), indices=idx, generator=g)
    out.loss.backward()
    for bank, old, z in zip(m.banks, before, out.embeddings):
        assert not bank.memory.requires_grad and bank.memory.grad is None
        mixed = 0.5 * old[idx] + 0.5 * torch.nn.functional.normalize(z.detach(), dim=1)
        torch.testing.assert_close(bank[idx], torch.nn.functional.normalize(mixed, dim=1))
        untouched = torch.ones(50, dtype=torch.bool)
        untouched[idx] = False
        torch.testing.assert_close(bank.memory[untouched], old[untouched])
    # the loss: positives and negatives read from the bank before the update
    negatives = m.banks[0].sample(10, torch.Generator().manual_seed(5))
    memory = [(old[idx], old[negatives]) for old in before]
    torch.testing.assert_close(out.loss, cmc_loss(out.embeddings, m.pairs, m.temperature, memory))
    with pytest.raises(ValueError):
        m(_images())


def test_memory_bank_is_updated_in_training_only():
    m = _cmc(negatives="bank", num_negatives=10).eval()
    before = [b.memory.clone() for b in m.banks]
    m(_images(), indices=torch.tensor([3, 7, 11, 19, 23, 42]), generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(b.memory, old) for b, old in zip(m.banks, before))


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        _cmc(negatives="queue")
    with pytest.raises(ValueError):
        _cmc(graph="ring")
    for bad in ("L,Q", "L,L", "Lab"):  # unknown channel, a channel twice, one view
        with pytest.raises(ValueError, match="method.channels"):
            _cmc(channels=bad)
    with pytest.raises(ValueError):
        _cmc(negatives="bank", num_negatives=50, num_samples=50)


def test_build_passes_factory_and_dataset_size_and_encoder_matches():
    cfg = resolve({"method": {"name": "cmc", "channels": "Y,Db,Dr", "negatives": "bank"},
                   "backbone": {"width": 4}})
    assert "num_samples" not in cfg["method"] and cfg["method"]["channels"] == "Y,Db,Dr"
    method, dim = build_method(cfg, num_samples=2000)
    assert dim == 3 * 32 and len(method.banks[0]) == 2000
    encoder_backbone = build_encoder_backbone(cfg)
    encoder_backbone.load_state_dict(method.backbone.state_dict())  # the saved encoder has CMC's architecture
    with pytest.raises(ValueError):
        build_method(cfg)


@pytest.mark.parametrize("negatives", ["batch", "bank"])
def test_tiny_training_run_lowers_the_loss(negatives):
    m = _cmc(negatives=negatives, num_samples=512, num_negatives=64, temperature=0.2)
    losses = train_on_source(m, view_source("crop", 1), steps=25, pass_indices=negatives == "bank")
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.1, (first, last)


def test_standardised_targets_are_each_images_channel_layout_with_zero_mean_and_unit_variance():
    x = _images()
    plain = _cmc(channels="L,a,b", graph="core", objective="predictive", target_size=4)
    m = _cmc(channels="L,a,b", graph="core", objective="predictive", target_size=4, standardise_targets=True)
    assert not plain.standardise_targets  # off by default
    h = m.backbone.encode(x)
    parts = m.backbone.split(x[0])
    pooled = [F.adaptive_avg_pool2d(p, 4) for p in parts]
    # the reference, written out: per image and channel, over the 4 x 4 positions, population variance
    mean = [p.mean(dim=(2, 3), keepdim=True) for p in pooled]
    var = [((p - mu) ** 2).mean(dim=(2, 3), keepdim=True) for p, mu in zip(pooled, mean)]
    targets = [((p - mu) / torch.sqrt(v + 1e-5)).flatten(1) for p, mu, v in zip(pooled, mean, var)]
    assert all(abs(t.mean(1)).max() < 1e-4 and abs(t.var(1, unbiased=False) - 1).max() < 1e-2 for t in targets)
    expected = sum(F.mse_loss(d(h[i]), targets[j]) for d, (i, j) in zip(m.decoders, m.directed)) / len(m.directed)
    torch.testing.assert_close(m(x).loss, expected)
    # the plain loss regresses the pooled values themselves: a different number on the same weights
    plain.load_state_dict(m.state_dict())
    raw = sum(F.mse_loss(d(h[i]), pooled[j].flatten(1)) for d, (i, j) in zip(m.decoders, m.directed)) / 4
    torch.testing.assert_close(plain(x).loss, raw)
    assert abs(plain(x).loss - m(x).loss) > 1e-3
