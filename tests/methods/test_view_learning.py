"""The view-learning experiment: its data (both raw channel splits share label and nuisance,
which lie in independent colour directions), the labelled part and its refusals, the critic
catch-up steps, the fresh-critic measurement, the computed verdicts and flags, bad input,
and tiny real runs."""
import json
import math

import pytest
import torch

from mvssl.experiments.view_learning_data import (LABEL_COLOUR, MIN_LABELS_PER_CLASS, NUISANCE_COLOUR, SplitShapes,
                                                  per_class_fraction, render_split_shapes)
from mvssl.views.generator import ViewGenerator
from mvssl.methods.view_learning import Schedule, TwoViewCritic, ViewLearning, fresh_critic_bound, refresh_batch_norm, train_views

# ------------------------------------------------------------------ data


@pytest.mark.parametrize("space", ["rgb", "ydbdr"])
def test_both_raw_views_carry_label_and_nuisance_colours(space):
    """The front end's image of each colour direction has a large part in view 1 (channel 0)
    and in view 2 (channels 1-2): the raw split shares both factors in both spaces."""
    front = ViewGenerator(space, 0).front
    for direction in (LABEL_COLOUR, NUISANCE_COLOUR):
        v = front.matrix @ torch.tensor(direction)
        assert v[0].abs() > 0.3 and v[1:].norm() > 0.3, (space, direction, v)


def test_pixels_lie_in_the_span_of_the_two_colour_directions_and_labels_are_balanced():
    images, factors = render_split_shapes(400, 16, torch.Generator().manual_seed(0))
    assert images.dtype == torch.uint8 and images.shape == (400, 3, 16, 16)
    a, b = torch.tensor(LABEL_COLOUR), torch.tensor(NUISANCE_COLOUR)
    normal = torch.linalg.cross(a, b)
    normal = normal / normal.norm()
    c = images.float() / 255 - 0.5
    off_plane = torch.einsum("j,bjhw->bhw", normal, c)
    in_plane = c - off_plane[:, None] * normal[None, :, None, None]
    assert off_plane.std() < 0.03 and in_plane.std() > 0.1  # only the pixel noise leaves the plane
    for name, k in (("shape", 5), ("texture", 4)):
        counts = torch.bincount(factors[name], minlength=k)
        assert len(counts) == k and counts.min() > 400 / k / 2


def test_the_label_layer_takes_exactly_the_layout_configurations(monkeypatch):
    """Shape, size and position take LAYOUTS values in all (so views sharing only the label
    layer share at most log LAYOUTS nats): without pixel noise, the image along the label
    colour's part orthogonal to the nuisance colour is one of exactly LAYOUTS pictures."""
    from mvssl.experiments import view_learning_data

    monkeypatch.setattr(view_learning_data, "PIXEL_NOISE", 0.0)
    images, _ = render_split_shapes(3000, 16, torch.Generator().manual_seed(2))
    a, b = torch.tensor(LABEL_COLOUR), torch.tensor(NUISANCE_COLOUR)
    w = a - (a @ b) / (b @ b) * b
    proj = torch.einsum("j,bjhw->bhw", w, images.float() / 255 - 0.5)
    level = view_learning_data.A_LABEL * float(w @ a)  # the shape's height in that picture
    pictures = []  # one per configuration: a picture within a quarter of the level of none is new
    for x in proj.flatten(1):
        if not any(float((x - p).abs().max()) < level / 4 for p in pictures):
            pictures.append(x)
    assert len(pictures) == view_learning_data.LAYOUTS == 40


def test_projecting_out_the_nuisance_colour_removes_the_texture_but_keeps_the_shape():
    """The separability a per-pixel generator can exploit: along the direction of the label
    colour orthogonal to the nuisance colour, images of different textures but no shape are
    flat, and shapes still show."""
    g = torch.Generator().manual_seed(1)
    images, _ = render_split_shapes(200, 16, g)
    a, b = torch.tensor(LABEL_COLOUR), torch.tensor(NUISANCE_COLOUR)
    w = a - (a @ b) / (b @ b) * b
    proj = torch.einsum("j,bjhw->bhw", w, images.float() / 255 - 0.5)
    along_b = torch.einsum("j,bjhw->bhw", b / b.norm(), images.float() / 255 - 0.5)
    # per image, the projection takes two levels (shape or not): its spread within an image
    # is explained by a two-cluster split far better than the nuisance direction's
    def two_level_residual(x):
        flat = x.flatten(1)
        thr = flat.mean(1, keepdim=True)
        lo, hi = flat < thr, flat >= thr
        m_lo = (flat * lo).sum(1, keepdim=True) / lo.sum(1, keepdim=True).clamp(min=1)
        m_hi = (flat * hi).sum(1, keepdim=True) / hi.sum(1, keepdim=True).clamp(min=1)
        fit = torch.where(lo, m_lo, m_hi)
        return ((flat - fit).var(1) / flat.var(1)).mean()
    assert two_level_residual(proj) < 0.2 < two_level_residual(along_b)


def test_labelled_part_is_a_fraction_of_each_class_and_bad_fractions_are_refused():
    labels = torch.arange(200) % 4
    idx = per_class_fraction(labels, 0.1, seed=0)
    assert torch.equal(torch.bincount(labels[idx]), torch.tensor([5, 5, 5, 5]))
    assert len(set(idx.tolist())) == 20
    assert not torch.equal(idx, per_class_fraction(labels, 0.1, seed=1))
    assert len(per_class_fraction(labels, 1.0, seed=0)) == 200
    for bad in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"--labelled-fraction must be in \(0, 1\]"):
            per_class_fraction(labels, bad, seed=0)
    with pytest.raises(ValueError, match=f"at least {MIN_LABELS_PER_CLASS} per class"):
        per_class_fraction(labels, 0.05, seed=0)


def test_split_shapes_is_the_same_images_for_every_seed_with_seeded_labelled_parts():
    a, b = SplitShapes(8, 200, 40, 40, 0.5, seed=0), SplitShapes(8, 200, 40, 40, 0.5, seed=1)
    assert torch.equal(a.pool, b.pool) and torch.equal(a.probe["test"][0], b.probe["test"][0])
    assert not torch.equal(a.labelled_index, b.labelled_index)
    c = a.for_seed(1)  # a training seed's own labelled part over the same images
    assert c.pool is a.pool and torch.equal(c.labelled_index, b.labelled_index)
    assert torch.equal(c.labelled_parts["held"], b.labelled_parts["held"]) and a.for_seed(0).labelled_index.equal(a.labelled_index)
    x, y = a.labelled(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 8, 8) and 0 <= x.min() and x.max() <= 1
    assert set(y.tolist()) <= set(a.pool_labels[a.labelled_index].tolist())


def test_labelled_halves_are_disjoint_cover_every_class_and_batches_come_from_their_half():
    data = SplitShapes(8, 200, 40, 40, 0.5, seed=0)
    fit, held = data.labelled_parts["fit"], data.labelled_parts["held"]
    assert not set(fit.tolist()) & set(held.tolist())
    assert sorted(fit.tolist() + held.tolist()) == sorted(data.labelled_index.tolist())
    counts = [torch.bincount(data.pool_labels[p], minlength=data.num_classes) for p in (fit, held)]
    assert all(c.min() >= 1 for c in counts) and (counts[0] - counts[1]).abs().max() <= 1
    g = torch.Generator().manual_seed(0)
    for name, part in (("fit", fit), ("held", held)):
        x, y = data.labelled(64, g, name)
        pool = data.pool[part].float() / 255
        for image in x:  # each image is one of that half's images, perhaps flipped
            assert any(torch.allclose(image, p, atol=1e-6) or torch.allclose(image, p.flip(2), atol=1e-6) for p in pool)
    with pytest.raises(ValueError, match="labelled part"):
        data.labelled(4, g, "bogus")


# ------------------------------------------------------------------ training and measurement


class _Counting:
    def __init__(self, data):
        self.data, self.unlabelled_calls, self.labelled_calls, self.parts = data, 0, 0, []

    def unlabelled(self, n, g):
        self.unlabelled_calls += 1
        return self.data.unlabelled(n, g)

    def labelled(self, n, g, part=None):
        self.labelled_calls += 1
        self.parts.append(part)
        return self.data.labelled(n, g, part)


@pytest.fixture(scope="module")
def tiny_data():
    return SplitShapes(8, 300, 60, 60, 0.5, seed=0)


def test_critic_catch_up_steps_run_before_every_generator_step(tiny_data):
    # (mode, critic updates per generator step, unlabelled and labelled batches drawn in 2 steps):
    # semi-supervised catch-up steps also train the classifiers on a labelled batch
    for mode, critic_steps, calls, labelled_calls in (("unsupervised", 3, 6, 0), ("semi-supervised", 2, 4, 4),
                                                      ("contrastive", 3, 2, 0), ("supervised", 3, 0, 2)):
        data = _Counting(tiny_data)
        torch.manual_seed(0)
        gen, critic = ViewGenerator("rgb", 2), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
        before = [p.clone() for p in gen.parameters()]
        train_views(ViewLearning(gen, critic, mode), data, Schedule(2, batch_size=16, labelled_batch_size=8, critic_steps=critic_steps))
        assert (data.unlabelled_calls, data.labelled_calls) == (calls, labelled_calls), mode
        moved = any(not torch.equal(p, q) for p, q in zip(before, gen.parameters()))
        assert moved == (mode != "contrastive"), mode
    with pytest.raises(ValueError, match="critic_steps"):
        train_views(ViewLearning(gen, critic, "unsupervised"), tiny_data, Schedule(1, critic_steps=0))
    # ce_split: the classifiers' batches come from the "fit" half, the generator's CE from "held"
    for mode, parts in (("semi-supervised", ["fit", "fit", "held"] * 2), ("supervised", ["fit", "held"] * 2)):
        data = _Counting(tiny_data)
        gen, critic = ViewGenerator("rgb", 2), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
        before = [p.clone() for p in gen.parameters()]
        train_views(ViewLearning(gen, critic, mode, ce_split=True), data, Schedule(2, batch_size=16, labelled_batch_size=8, critic_steps=2))
        assert data.parts == parts, mode
        assert any(not torch.equal(p, q) for p, q in zip(before, gen.parameters())), mode


def test_the_schedule_lists_the_run_in_order():
    """Warm-up, then per generator step a reset where due, the catch-up critic steps and the
    step of all players; with select_best a last reset (the final state scored) and the pick.
    Without a game (contrastive, supervised, a frozen generator) only the steps of all players."""
    schedule = Schedule(3, critic_steps=2, critic_warmup=1, critic_reset=2, select_best=True)
    assert list(schedule.events(adversarial=True)) == [
        ("warm-up", 0), ("critic", 0), ("play", 0), ("critic", 1), ("play", 1), ("reset", 2), ("critic", 2),
        ("play", 2), ("reset", 3), ("pick", 3)]
    no_game = Schedule(2, critic_steps=3, critic_warmup=5, critic_reset=1)
    assert list(no_game.events(adversarial=False)) == [("play", 0), ("play", 1)]
    assert list(Schedule(0, critic_warmup=2).events(adversarial=True)) == [("warm-up", 0)]
    for bad, message in (({"generator_schedule": "linear"}, "generator schedule"),
                         ({"generator_optimizer": "sgd"}, "generator optimizer")):
        with pytest.raises(ValueError, match=message):
            Schedule(1, **bad)


def test_critic_warmup_trains_only_the_critic_before_the_game(tiny_data):
    """critic_warmup=K: K critic-only steps (the mode's own kind of batches) before the first
    generator step; with 0 generator steps the critic has moved and the generator has not."""
    for mode, unlabelled, labelled in (("unsupervised", 3, 0), ("semi-supervised", 3, 3)):
        data = _Counting(tiny_data)
        torch.manual_seed(0)
        gen, critic = ViewGenerator("rgb", 2), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
        gen_before, critic_before = [p.clone() for p in gen.parameters()], [p.clone() for p in critic.parameters()]
        train_views(ViewLearning(gen, critic, mode), data, Schedule(0, batch_size=16, labelled_batch_size=8, critic_warmup=3))
        assert (data.unlabelled_calls, data.labelled_calls) == (unlabelled, labelled), mode
        assert all(torch.equal(p, q) for p, q in zip(gen_before, gen.parameters())), mode
        assert any(not torch.equal(p, q) for p, q in zip(critic_before, critic.parameters())), mode
    data = _Counting(tiny_data)
    train_views(ViewLearning(gen, critic, "contrastive"), data, Schedule(1, batch_size=16, critic_warmup=3))  # no game, no warm-up
    assert data.unlabelled_calls == 1
    with pytest.raises(ValueError, match="critic_warmup"):
        train_views(ViewLearning(gen, critic, "unsupervised"), tiny_data, Schedule(1, critic_warmup=-1))


def test_critic_reset_redraws_the_critic_and_warms_it_up_again(tiny_data):
    """critic_reset=R: every R generator steps the critic is drawn afresh (the same draw for the
    same seed, BatchNorm statistics reset, the global random state untouched) and gets
    critic_warmup more critic-only steps."""
    from mvssl.methods.view_learning import reinitialise

    critic = TwoViewCritic(num_classes=5, width=2, proj_dim=8)
    bn = next(m for m in critic.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_mean.fill_(3.0)
    state = torch.random.get_rng_state()
    reinitialise(critic, seed=7)
    assert torch.equal(torch.random.get_rng_state(), state) and torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    first = [p.clone() for p in critic.parameters()]
    reinitialise(critic, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(first, critic.parameters()))
    reinitialise(critic, seed=8)
    assert any(not torch.equal(p, q) for p, q in zip(first, critic.parameters()))

    finals = {}
    for reset, calls in ((0, 1 + 4), (2, 1 + 4 + 1)):  # warm-up, 4 generator steps, one reset (at step 2)
        data = _Counting(tiny_data)
        torch.manual_seed(0)
        gen, critic = ViewGenerator("rgb", 2), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
        train_views(ViewLearning(gen, critic, "unsupervised"), data, Schedule(4, batch_size=16, critic_warmup=1, critic_reset=reset))
        assert data.unlabelled_calls == calls, reset
        finals[reset] = [p.clone() for p in critic.parameters()]
    assert any(not torch.equal(p, q) for p, q in zip(finals[0], finals[2]))
    with pytest.raises(ValueError, match="critic_reset"):
        train_views(ViewLearning(gen, critic, "unsupervised"), tiny_data, Schedule(1, critic_reset=-1))


@pytest.mark.parametrize("mode", ["unsupervised", "semi-supervised"])
def test_select_best_keeps_the_state_a_freshly_warmed_up_critic_scores_lowest(tiny_data, mode):
    """Candidates: the start, every critic reset and the end; the kept generator is the
    candidate with the lowest score, exactly as it was at that step."""
    torch.manual_seed(0)
    gen, critic = ViewGenerator("rgb", 0, linear_layers=1), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
    states = {0: [p.clone() for p in gen.parameters()]}

    def keep(step, stats):
        states[step + 1] = [p.detach().clone() for p in gen.parameters()]

    selection = {}
    schedule = Schedule(5, batch_size=16, labelled_batch_size=8, generator_lr=0.3, critic_warmup=3, critic_reset=2,
                        select_best=True)
    train_views(ViewLearning(gen, critic, mode, ce_split=True), tiny_data, schedule, selection=selection, on_step=keep)
    assert [c["step"] for c in selection["candidates"]] == [0, 2, 4, 5]
    scores = {c["step"]: c["score"] for c in selection["candidates"]}
    assert all(math.isfinite(v) for v in scores.values())
    assert selection["step"] == min(scores, key=scores.get)
    assert all(torch.equal(p, q) for p, q in zip(gen.parameters(), states[selection["step"]]))
    assert len({tuple(torch.cat([p.flatten() for p in st]).tolist()) for st in states.values()}) > 1
    with pytest.raises(ValueError, match="select_best"):
        train_views(ViewLearning(gen, critic, mode), tiny_data, Schedule(1, select_best=True))


class _Channels:
    """Images whose three channels are one grey image (``shared``) or independent noise."""

    def __init__(self, shared: bool):
        self.shared = shared

    def unlabelled(self, n, g):  # smooth 2x2 patterns, which a pooled convnet can match
        x = torch.rand(n, 1 if self.shared else 3, 2, 2, generator=g).repeat_interleave(4, 2).repeat_interleave(4, 3)
        return x.expand(n, 3, 8, 8).contiguous()

    def images(self, n, seed):
        return (self.unlabelled(n, torch.Generator().manual_seed(seed)) * 255).round().to(torch.uint8)


def test_fresh_critic_finds_shared_information_and_none_between_independent_channels():
    kw = dict(num_classes=2, width=4, proj_dim=16, temperature=0.2)
    gen = ViewGenerator("rgb", 0)
    shared, _ = fresh_critic_bound(gen, _Channels(True), _Channels(True).images(64, 9), kw, 40, seed=0,
                                   batch_size=32, eval_batch=64)
    independent, _ = fresh_critic_bound(gen, _Channels(False), _Channels(False).images(64, 9), kw, 40, seed=0,
                                        batch_size=32, eval_batch=64)
    assert shared > 1.0 and abs(independent) < 0.5 and shared <= math.log(64) + 1e-6


def test_refresh_batch_norm_sets_the_average_statistics_of_the_final_views(tiny_data):
    torch.manual_seed(0)
    gen, critic = ViewGenerator("rgb", 0), TwoViewCritic(num_classes=5, width=2, proj_dim=8)
    first = critic.encoders[0].features[1]
    first.running_mean.fill_(7.0)
    refresh_batch_norm(gen, critic, tiny_data, batch_size=32, batches=3, seed=5)
    g = torch.Generator().manual_seed(5)
    means = []
    for _ in range(3):
        v1 = gen.views(tiny_data.unlabelled(32, g))[0]
        means.append(critic.encoders[0].features[0](v1).mean((0, 2, 3)))
    torch.testing.assert_close(first.running_mean, torch.stack(means).mean(0), atol=1e-5, rtol=1e-4)
    assert first.momentum == 0.1


# ------------------------------------------------------------------ the experiment, end to end

TINY = ["--gen-steps", "2", "--critic-steps", "2", "--cmc-steps", "2", "--fresh-critics", "1", "--width", "2",
        "--image-size", "8", "--probe-size", "40", "--batch-size", "16", "--jobs", "1"]


@pytest.mark.parametrize("argv, message", [
    (["--spaces", "lab"], "--spaces: unknown lab; choose from rgb, ydbdr"),
    (["--views", "bogus"], "--views: unknown bogus; choose from raw, unsupervised"),
    (["--labelled-fraction", "0"], r"--labelled-fraction must be in \(0, 1\]"),
    (["--labelled-fraction", "1.5"], r"--labelled-fraction must be in \(0, 1\]"),
    (["--labelled-fraction", "0.001"], "at least 5 per class"),
    (["--critic-steps", "0"], "--critic-steps must be at least 1"),
    (["--critic-warmup", "-1"], "--critic-warmup must be at least 0"),
    (["--generator-select", "best", "--critic-warmup", "0"], "--generator-select best .* needs --critic-warmup > 0"),
    (["--dataset", "stl10", "--views", "raw", "oracle"], "--views oracle: the oracle views need known colour directions"),
    (["--trainer.accelerator", "gpu"], "--trainer.accelerator gpu: no CUDA device is visible"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, capsys, argv, message):
    import re

    from mvssl import cli

    if "gpu" in argv and torch.cuda.is_available():
        pytest.skip("a CUDA device is visible: --trainer.accelerator gpu is valid here")
    out = tmp_path / "run"
    assert cli.main(["experiment", "view-learning", *TINY, *argv, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err) and not out.exists()


def _parsed(*argv):
    """The options' values as the command reads them (its real defaults and quick values)."""
    import argparse

    from mvssl.experiments.view_learning import add_arguments
    from mvssl.studies.declared import values
    from mvssl.studies.experiment import section_of

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(list(argv))
    return values(section_of("view_learning"), vars(args), args.quick)


def test_no_warm_up_is_refused_only_where_a_state_must_be_scored():
    """--critic-warmup 0 with --generator-select best: refused with an adversarial arm (scored
    by a warmed-up critic), accepted for arms that train no adversary, or with --generator-select last."""
    from mvssl.experiments.view_learning import settings

    for views, select, refused in ((["unsupervised"], "best", True), (["semi-supervised", "raw"], "best", True),
                                   (["raw", "oracle", "supervised"], "best", False), (["unsupervised"], "last", False)):
        args = _parsed("--quick", "--spaces", "rgb", "--critic-warmup", "0", "--views", *views, "--generator-select", select)
        if refused:
            with pytest.raises(ValueError, match="--generator-select best .* needs --critic-warmup > 0"):
                settings(args)
        else:
            assert settings(args)["critic_warmup"] == 0


def test_stl10_defaults_are_the_papers_setting(tmp_path, monkeypatch):
    """--dataset stl10 without --image-size / --labelled-fraction: 96-px images, every labelled
    training image labelled, the unlabelled images in the pool (shapes keep 5%)."""
    import argparse

    from tests.data.fakedata import trust_checksums, write_stl10

    from mvssl.experiments.view_learning import load_data, settings

    write_stl10(tmp_path, per_split=60, unlabelled=30)
    trust_checksums(monkeypatch)
    fractions = {}
    for dataset in ("stl10", "shapes"):
        args = _parsed("--quick", "--dataset", dataset, "--root", str(tmp_path), "--views", "raw")
        fractions[dataset] = settings(args)["labelled_fraction"]
        if dataset == "stl10":
            data = load_data(argparse.Namespace(**args), {"labelled_fraction": fractions[dataset]})
            assert data.pool.shape[-2:] == (96, 96) and len(data.pool) == 90 and len(data.labelled_index) == 60
    assert fractions == {"stl10": 1.0, "shapes": 0.05}


def test_stl10_pool_holds_the_unlabelled_images_and_the_probe_only_labelled_ones():
    from mvssl.data.datasets import LabelledImages
    from mvssl.experiments.view_learning_data import ImageSetViews

    labels = torch.cat([torch.full((30,), -1), torch.arange(60) % 10])
    images = torch.randint(0, 256, (90, 3, 8, 8), dtype=torch.uint8)
    data = LabelledImages(images, labels, images[:20], torch.arange(20) % 10, [f"c{i}" for i in range(10)])
    views = ImageSetViews(data, labelled_fraction=1.0)
    assert len(views.pool) == 90 and (views.pool_labels[views.labelled_index] >= 0).all()
    assert len(views.labelled_index) == 60
    train_x, train_y = views.probe_sets()["train"]
    assert len(train_x) == 60 and (train_y["class"] >= 0).all()


def test_batches_are_drawn_on_the_host_and_delivered_on_the_named_device():
    """The pool stays in host memory; ``to`` moves only the batches (same draws for a seed)."""
    data = SplitShapes(8, train_size=200, probe_size=20, test_size=20, labelled_fraction=0.5)
    host = data.unlabelled(6, torch.Generator().manual_seed(3))
    data.to("meta")  # a device without storage: shows where tensors go, on any machine
    moved = data.unlabelled(6, torch.Generator().manual_seed(3))
    x, y = data.labelled(4, torch.Generator().manual_seed(3))
    assert moved.device.type == x.device.type == y.device.type == "meta" and moved.shape == host.shape
    assert data.pool.device.type == "cpu"
    data.to("cpu")
    assert torch.equal(data.unlabelled(6, torch.Generator().manual_seed(3)), host)
