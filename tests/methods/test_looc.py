import math

import pytest
import torch

from tests.methods.tiny_training import cmnist_frames16, optimise, tiny_images
from mvssl.config import ConfigError
from mvssl.build import resolve
from mvssl.encoder import Encoder, load
from mvssl.losses import leave_one_out_loss, leave_one_out_masks
from mvssl.methods import METHODS, LooC
from mvssl.nn import build_backbone
from mvssl.build import build_method
from mvssl.views.looc import augmentation_recipe, looc_views

AUGS = ["color", "rotate", "blur"]



def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_key_i_shares_exactly_the_parameters_of_augmentation_i_with_the_query():
    source = looc_views(tiny_images(16), {}, 16, AUGS)
    views, params = source.make(tiny_images(16), torch.Generator().manual_seed(3))
    assert len(views) == len(params) == len(AUGS) + 2 and all(v.shape == (16, 3, 16, 16) for v in views)
    query = params[0]
    assert set(query) == {"crop", *AUGS}
    shared_by_key = [[op for op in query if _same(query[op], p[op])] for p in params[1:]]
    assert shared_by_key == [[], ["color"], ["rotate"], ["blur"]]  # k_0 shares nothing, k_i only a_i


def test_key_i_is_the_recipe_applied_with_the_querys_a_i():
    images = tiny_images(8)
    source = looc_views(images, {}, 16, AUGS)
    views, params = source.make(images, torch.Generator().manual_seed(0))
    redo, _ = source.recipe(images, torch.Generator(), reuse=params[3])  # every parameter of k_2 (rotate)
    torch.testing.assert_close(redo, views[3])


def test_bad_augmentation_names_fail_naming_them():
    with pytest.raises(ValueError, match="jpeg"):
        augmentation_recipe(16, ["color", "jpeg"])
    with pytest.raises(ConfigError, match="views.augmentations"):
        resolve({"method": {"name": "looc"}, "views": {"name": "looc", "augmentations": ["hue"]}})
    with pytest.raises(ConfigError, match="looc-pair"):
        resolve({"method": {"name": "moco"}, "views": {"name": "looc"}})
    with pytest.raises(ConfigError, match="views.name"):
        resolve({"method": {"name": "looc"}, "views": {"name": "simclr"}})


def test_masks_on_a_hand_made_batch():
    # two augmentations (spaces Z_0, Z_1, Z_2; keys k_0, k_1, k_2) and two images a, b:
    # column m * 2 + image is key k_m of that image
    positive, negative = leave_one_out_masks(2, 2)
    expected_positive = [
        [[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]],  # Z_0: every key of the same image
        [[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]],  # Z_1: only k_1 of the same image
        [[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]],  # Z_2: only k_2 of the same image
    ]
    expected_negative = [
        [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]],  # Z_0: no in-batch negatives (queue only)
        [[1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1]],  # Z_1: k_0 and k_2 of the same image
        [[1, 0, 1, 0, 0, 0], [0, 1, 0, 1, 0, 0]],  # Z_2: k_0 and k_1 of the same image
    ]
    assert positive.tolist() == torch.tensor(expected_positive, dtype=torch.bool).tolist()
    assert negative.tolist() == torch.tensor(expected_negative, dtype=torch.bool).tolist()


def _reference_loss(q, k, queues, tau):
    """Plain loops over the formula in leave_one_out_loss's docstring."""
    S, n = q.shape[0], q.shape[1]

    def cos(u, v):
        return float(u @ v) / (float(u.norm()) * float(v.norm()))

    per_space = []
    for s in range(S):
        terms = []
        for a in range(n):
            positives = list(range(S)) if s == 0 else [s]
            negatives = [] if s == 0 else [m for m in range(S) if m != s]
            neg = sum(math.exp(cos(q[s, a], k[s, m, a]) / tau) for m in negatives)
            neg += sum(math.exp(cos(q[s, a], queues[s, j]) / tau) for j in range(len(queues[s])))
            for m in positives:
                pos = math.exp(cos(q[s, a], k[s, m, a]) / tau)
                terms.append(-math.log(pos / (pos + neg)))
        per_space.append(sum(terms) / len(terms))
    return sum(per_space) / S, per_space


def test_loss_matches_a_plain_loop_reference():
    g = torch.Generator().manual_seed(0)
    S, n, d, K = 4, 3, 5, 6
    q, k = torch.randn(S, n, d, generator=g), torch.randn(S, S, n, d, generator=g)
    queues = torch.randn(S, K, d, generator=g)
    loss, per_space = leave_one_out_loss(q, k, queues, temperature=0.3)
    ref, ref_per_space = _reference_loss(q.double(), k.double(), queues.double(), 0.3)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    assert per_space.tolist() == pytest.approx(ref_per_space, rel=1e-5)


def _looc(**kw):
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=4, in_channels=3)
    return LooC(backbone, dim, num_samples=1000, augmentations=AUGS, proj_hidden_dim=32, proj_dim=16, **kw)


def _views(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 16, 16, generator=g) for _ in range(len(AUGS) + 2)]


def test_method_loss_uses_queues_before_enqueue_and_enqueues_each_spaces_positive_key():
    m = _looc(queue_size=20, temperature=0.3)
    views = _views()
    before = torch.stack([q.keys.clone() for q in m.queues])
    out = m(views)
    with torch.no_grad():
        q = torch.stack([h(m.backbone(views[0])) for h in m.projectors])
        hk = m.key_backbone(torch.cat(views[1:])).chunk(len(views) - 1)  # one BN batch for all keys, as in forward
        k = torch.stack([torch.stack([h(x) for x in hk]) for h in m.key_projectors])
        torch.testing.assert_close(out.loss, leave_one_out_loss(q, k, before, 0.3)[0], rtol=1e-5, atol=1e-5)
        for s, queue in enumerate(m.queues):
            torch.testing.assert_close(queue.keys[:8], torch.nn.functional.normalize(k[s, s], dim=1))
    assert set(out.logs) == {"loss_all", "loss_color", "loss_rotate", "loss_blur"}
    with pytest.raises(ValueError, match="5 views"):
        m(views[:2])


def test_queues_are_updated_in_training_only():
    m = _looc(queue_size=20).eval()
    before = [q.keys.clone() for q in m.queues]
    m(_views())
    assert all(torch.equal(q.keys, b) and int(q.pointer) == 0 for q, b in zip(m.queues, before))


def test_gradients_reach_the_query_encoder_only():
    m = _looc(queue_size=16)
    m(_views()).loss.backward()
    keys = list(m.key_backbone.parameters()) + list(m.key_projectors.parameters())
    assert all(p.grad is None and not p.requires_grad for p in keys)
    query = list(m.backbone.parameters()) + list(m.projectors.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in query)
    assert {id(p) for p in m.parameters() if p.requires_grad} == {id(p) for p in query}
    assert all(not q.keys.requires_grad for q in m.queues)


def test_key_encoders_follow_by_momentum():
    m = _looc(queue_size=16, momentum=0.9)
    old = [p.clone() for p in m.key_projectors.parameters()]
    for p in m.projectors.parameters():
        p.data.add_(1.0)
    m.on_step_end(1, 10)
    for o, t, q in zip(old, m.key_projectors.parameters(), m.projectors.parameters()):
        torch.testing.assert_close(t, 0.9 * o + 0.1 * q)


def test_tiny_training_lowers_the_loss():
    images, factors = cmnist_frames16()
    source = looc_views(images[:512], factors, 16, AUGS, min_scale=0.3)
    m = _looc(queue_size=128, momentum=0.9)

    def next_batch(g):
        idx = torch.randperm(len(source), generator=g)[:64]
        return source(idx, g)[0], {}

    losses = optimise(m, next_batch, steps=40, lr=2e-3, seed=0)
    first, last = sum(losses[4:10]) / 6, sum(losses[-6:]) / 6  # after the queues hold real keys
    assert last < first - 0.1, (first, last, losses)


def _looc_config():
    return resolve({"method": {"name": "looc", "proj_hidden_dim": 32, "proj_dim": 16, "queue_size": 16},
                    "views": {"name": "looc"}, "backbone": {"width": 4},
                    "data": {"image_size": 16, "digit_size": 8}})


def test_save_load_round_trip_with_both_representations(tmp_path):
    cfg = _looc_config()
    method, dim = build_method(cfg, num_samples=100)
    assert METHODS["looc"] is LooC and method.space_names == ["all", *AUGS]
    for p in method.parameters():  # weights unlike a fresh build's
        p.data.add_(0.01 * torch.randn_like(p))
    enc = Encoder.from_config(cfg)
    enc.load_method_weights(method)
    images = tiny_images(6)
    v, z = enc.embed(images), enc.embed(images, representation="looc++")
    assert v.shape == (6, dim) and z.shape == (6, 4 * 16)
    with torch.no_grad():
        x = enc.preprocess(images)
        method.eval()
        torch.testing.assert_close(v, method.backbone(x))
        expected = torch.cat([torch.nn.functional.normalize(h(method.backbone(x)), dim=1) for h in method.projectors], 1)
        torch.testing.assert_close(z, expected)
    enc.save(tmp_path / "encoder.pt")
    ckpt = {"mvssl_config": cfg, "state_dict": {f"method.{k}": t for k, t in method.state_dict().items()}}
    torch.save(ckpt, tmp_path / "last.ckpt")
    for path in (tmp_path / "encoder.pt", tmp_path / "last.ckpt"):  # both load with weights_only=True
        loaded = load(path)
        torch.testing.assert_close(loaded.embed(images), v)
        torch.testing.assert_close(loaded.embed(images, representation="looc"), v)
        torch.testing.assert_close(loaded.embed(images, representation="looc++"), z)
    with pytest.raises(ValueError, match="representation"):
        enc.embed(images, representation="z0")


def test_looc_plus_plus_needs_a_looc_encoder():
    cfg = resolve({"method": {"name": "moco"}, "views": {"name": "looc-pair"}, "backbone": {"width": 4},
                   "data": {"image_size": 16, "digit_size": 8}})
    enc = Encoder.from_config(cfg)
    assert enc.heads is None
    with pytest.raises(ValueError, match="--method looc"):
        enc.embed(tiny_images(2), representation="looc++")


def _hue_gap(a, b):
    d = torch.remainder(a - b, 1.0)
    return torch.minimum(d, 1 - d)


def test_no_contradictory_negatives_every_key_differs_from_the_query_in_what_it_does_not_share():
    """In space Z_i every key but k_i is a negative; each must show a value of a_i other than
    the query's. Drawn independently, four-way rotation would collide 1 time in 4."""
    augs = ["color", "rotate", "blur", "gray"]
    source = looc_views(tiny_images(512), {}, 16, augs)
    _, params = source.make(tiny_images(512), torch.Generator().manual_seed(5))
    q = params[0]
    for m, key in enumerate(params[1:]):  # k_0, k_1, ...
        shared = None if m == 0 else augs[m - 1]
        for a in augs:
            if a == shared:
                continue
            if a == "color":
                assert bool((_hue_gap(key[a]["hue"], q[a]["hue"]) >= 0.25 - 1e-6).all())
            elif a == "rotate":
                assert bool((key[a]["angle"] % 360 != q[a]["angle"] % 360).all())
            else:
                assert bool((key[a]["apply"] != q[a]["apply"]).all())
    # the check can fail: independent draws (MoCo's two views) do collide, about 1 time in 4
    a = source.recipe(tiny_images(512), torch.Generator().manual_seed(6))[1]["rotate"]["angle"]
    b = source.recipe(tiny_images(512), torch.Generator().manual_seed(7))[1]["rotate"]["angle"]
    assert 0.15 < float((a == b).float().mean()) < 0.35


def test_differ_keeps_the_views_consistent_with_their_recorded_parameters():
    images = tiny_images(8)
    source = looc_views(images, {}, 16, ["color", "rotate"])
    views, params = source.make(images, torch.Generator().manual_seed(2))
    for view, p in zip(views, params):
        torch.testing.assert_close(source.recipe(images, torch.Generator(), reuse=p)[0], view)
    with pytest.raises(ValueError, match="both reuse and differ"):
        source.recipe(images, torch.Generator(), reuse={"rotate": params[0]["rotate"]},
                      differ={"rotate": params[0]["rotate"]})


def test_a_looc_run_saves_an_encoder_with_both_representations(tmp_path):
    from mvssl.train import train

    cfg = {"method": {"name": "looc", "proj_hidden_dim": 32, "proj_dim": 16, "queue_size": 64},
           "views": {"name": "looc", "augmentations": ["color", "rotate"]}, "backbone": {"width": 4},
           "data": {"image_size": 16, "digit_size": 8}, "optim": {"batch_size": 32, "warmup_steps": 2},
           "trainer": {"max_steps": 6, "checkpoint_every": 6, "progress": False, "out_dir": str(tmp_path),
                       "name": "looc"}, "eval": {"enabled": False}}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    images = tiny_images(4)
    from_encoder, from_checkpoint = load(run_dir / "encoder.pt"), load(run_dir / "checkpoints" / "last.ckpt")
    for rep, dim in (("backbone", 32), ("looc++", 3 * 16)):
        v = from_encoder.embed(images, representation=rep)
        assert v.shape == (4, dim)
        torch.testing.assert_close(v, from_checkpoint.embed(images, representation=rep))
