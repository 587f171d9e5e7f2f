"""Several seeds in one model (train/seeds.py, nn/stacked.py): each seed starts from its own
run's weights, one stacked step equals K single steps, the run folders are ordinary runs."""
import copy
import json

import lightning as L
import pytest
import torch
import torch.nn.functional as F
import yaml

import mvssl
from mvssl.build import build_dataset
from mvssl.cli import main
from mvssl.losses import nt_xent
from mvssl.nn import build_backbone, mlp
from mvssl.nn.stacked import seed_state, stack_state, stacked_like
from mvssl.train import build_optimizer, run as run_mod
from mvssl.train import seeds as seeds_mod
from mvssl.train.module import step_seed
from mvssl.train.seeds import StackedRun, seed_configs, stacked_nt_xent, stacked_param_groups

TINY = {"data": {"image_size": 16, "digit_size": 8}, "backbone": {"width": 4},
        "method": {"name": "simclr", "proj_hidden_dim": 32, "proj_dim": 16},
        "optim": {"batch_size": 16, "weight_decay": 0.05}, "eval": {"enabled": False},
        "trainer": {"max_steps": 3, "progress": False, "precision": "32", "channels_last": False}}


def test_stacked_networks_give_each_seed_its_own_output_and_weights_back_bitwise():
    nets = []
    for s in range(3):
        torch.manual_seed(s)
        nets.append(torch.nn.Sequential(build_backbone("convnet", width=4)[0], mlp([32, 24, 8])))
    wide = stacked_like(nets[0], 3)
    stack_state(wide, [n.state_dict() for n in nets])
    for s, net in enumerate(nets):  # in and out bitwise
        back = seed_state(wide, net, 3, s)
        assert all(torch.equal(back[k], v) for k, v in net.state_dict().items())
    x = torch.randn(3, 6, 3, 16, 16)
    out = wide(x)  # train mode: BN over each seed's own batch
    for s, net in enumerate(nets):
        torch.testing.assert_close(out[s], net(x[s]), atol=1e-5, rtol=1e-4)
        back = seed_state(wide, net, 3, s)  # the running statistics each seed's BN kept
        for key, value in net.state_dict().items():
            torch.testing.assert_close(back[key], value, atol=1e-6, rtol=1e-5, msg=key)
    # seed 1's input changes seed 1's output only
    x2 = x.clone()
    x2[1] += 1
    out2 = wide(x2)
    assert torch.equal(out2[0], wide(x)[0]) and not torch.allclose(out2[1], out[1])


def test_stacked_nt_xent_is_each_seeds_nt_xent():
    z1, z2 = torch.randn(4, 10, 6), torch.randn(4, 10, 6)
    expected = torch.stack([nt_xent(z1[i], z2[i], 0.3) for i in range(4)])
    torch.testing.assert_close(stacked_nt_xent(z1, z2, 0.3), expected)


def _single_run_modules(monkeypatch, cfgs):
    """The SSLModule each seed's own ``mvssl train`` builds, captured where it starts training."""
    found = []

    class Stop(Exception):
        pass

    def capture(trainer, module, *args):
        found.append(copy.deepcopy(module))
        raise Stop

    monkeypatch.setattr(run_mod, "_fit", capture)
    for cfg in cfgs:
        with pytest.raises(Stop):
            run_mod.train(cfg)
    monkeypatch.undo()
    return found


# BYOL with SGD: its projector's last bias feeds the predictor's BatchNorm, so its gradient is 0 but for
# rounding, which Adam would scale up to steps of about lr (and on into that BN's running mean)
@pytest.mark.parametrize("method, optimiser", [("simclr", "adamw"), ("byol", "sgd")])
def test_each_seed_starts_from_its_own_runs_weights_and_two_steps_equal_its_own_steps(tmp_path, monkeypatch, method,
                                                                                      optimiser):
    tiny = {**TINY, "method": {**TINY["method"], "name": method}, "optim": {**TINY["optim"], "name": optimiser}}
    if method == "byol":
        tiny["method"].update(pred_hidden_dim=32)
    else:  # the temperature these tolerances were set at: at 0.1 a few elements whose gradient is near 0 differ
        tiny["method"].update(temperature=0.5)  # by up to ~2e-4 after two steps (Adam scales up the rounding again)
    user = {**tiny, "trainer": {**TINY["trainer"], "out_dir": str(tmp_path / "single")}}
    singles = _single_run_modules(monkeypatch, seed_configs(user, 3))
    batched = []

    def capture(cfgs, modules, *args):
        batched.extend(modules)
        return 0.0, 0

    monkeypatch.setattr(seeds_mod, "_fit", capture)
    user = {**tiny, "trainer": {**TINY["trainer"], "out_dir": str(tmp_path / "batched")}}
    seeds_mod.train_seeds(seed_configs(user, 3))
    for one, mine in zip(singles, batched):  # bitwise the single runs' initial weights (method and probe)
        assert one.state_dict().keys() == mine.state_dict().keys()
        assert all(torch.equal(v, mine.state_dict()[k]) for k, v in one.state_dict().items())
    assert not all(torch.equal(a, b) for a, b in zip(singles[0].state_dict().values(),
                                                      singles[1].state_dict().values()))  # seeds differ

    # two optimiser steps (AdamW state included) of the stacked model against each seed's own
    cfg = singles[0].config
    stacked = StackedRun(batched)
    o = cfg["optim"]
    groups = stacked_param_groups(stacked, batched[0], o["lr"], o["weight_decay"])
    opt = torch.optim.AdamW(groups, lr=o["lr"]) if optimiser == "adamw" else torch.optim.SGD(
        groups, lr=o["lr"], momentum=o["momentum"])  # as seeds._fit makes them
    if method == "byol":  # the predictor's 10x rate and the frozen targets reach the optimiser as in a single run
        assert sorted(g["lr"] for g in opt.param_groups) == [o["lr"]] * 2 + [10 * o["lr"]] * 2
    dataset = build_dataset(cfg)
    for step in range(2):
        views, ys = [], []
        for i, module in enumerate(singles):
            g = torch.Generator().manual_seed(step_seed(i, 0, step))
            idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(step * 10 + i))[:16]
            v, t = module.view_source(idx, g)
            views.append(v)
            ys.append(t["digit"])
            scales = {f"method.{k}": s for k, s in getattr(module.method, "lr_scales", {}).items()}
            single_opt = module.__dict__.setdefault("_test_opt", build_optimizer(
                module, optimiser, o["lr"], o["weight_decay"], o["momentum"], scales))  # as configure_optimizers
            out = module.method(v)
            loss = out.loss + F.cross_entropy(module.probe(out.features.detach().float()), t["digit"])
            single_opt.zero_grad()
            loss.backward()
            single_opt.step()
            if hasattr(module.method, "on_step_end"):
                module.method.on_step_end(step + 1, 3)
        losses, probe, _, _ = stacked.losses([torch.stack([v[j] for v in views]) for j in range(2)], torch.stack(ys))
        opt.zero_grad()
        (losses.sum() + probe.sum()).backward()
        opt.step()
        if hasattr(stacked.method, "on_step_end"):
            stacked.method.on_step_end(step + 1, 3)
    for i, module in enumerate(singles):
        mine = seed_state(stacked, module, 3, i)
        for key, value in module.state_dict().items():
            torch.testing.assert_close(mine[key], value, atol=2e-5, rtol=1e-4, msg=key)
    # and the steps moved the weights (the comparison is not of untouched tensors)
    assert not torch.allclose(batched[0].state_dict()["method.backbone.features.0.weight"],
                              singles[0].state_dict()["method.backbone.features.0.weight"])


def _tiny_argv(tmp_path, *extra):
    return ["train", "--seeds", "2", "--trainer.out_dir", str(tmp_path / "runs"), "--trainer.name", "tiny",
            "--trainer.max_steps", "4", "--trainer.progress", "false", "--eval.enabled", "false",
            "--backbone.width", "4", "--optim.batch_size", "16", "--data.image_size", "16", "--data.digit_size", "8",
            "--trainer.log_every", "2", *extra]


def test_each_seed_writes_an_ordinary_run_folder_that_loads(tmp_path, capsys):
    assert main(_tiny_argv(tmp_path, "--trainer.seed", "5")) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert [f.name for f in folders] == ["tiny-seed5", "tiny-seed6"]
    embeddings = []
    for seed, folder in zip((5, 6), folders):
        assert yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["seed"] == seed
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["steps"] == 4 and metrics["seeds_in_one_model"] == [5, 6]
        rows = (folder / "logs" / "metrics.csv").read_text().splitlines()
        assert len(rows) == 3 and "train/loss" in rows[0]  # header + steps 2 and 4
        encoder = mvssl.load(folder)
        embeddings.append(encoder.embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)))
    assert embeddings[0].shape == (2, 32) and not torch.allclose(embeddings[0], embeddings[1])
    capsys.readouterr()
    assert main(["eval", "probes", str(folders[1])]) == 0  # mvssl eval reads it as any run
    assert "digit" in capsys.readouterr().out


@pytest.mark.parametrize("extra, expected", [
    (["--method", "moco"], "method moco: several seeds in one model train simclr, byol only"),
    (["--backbone.name", "resnet18"], "backbone.name resnet18"),
    (["--optim.name", "lars"], "optim.name lars"),
    (["--trainer.logger", "tensorboard"], "trainer.logger tensorboard"),
    (["--resume", "somewhere"], "--seeds 2 trains new runs"),
])
def test_what_it_cannot_train_is_refused_in_one_line_before_any_folder(tmp_path, capsys, extra, expected):
    assert main(_tiny_argv(tmp_path, *extra)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("mvssl:")]
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_a_tiny_batched_run_beats_random_init(tmp_path):
    user = {"trainer": {"max_steps": 150, "progress": False, "out_dir": str(tmp_path), "name": "r",
                        "precision": "32"}, "backbone": {"width": 8}, "optim": {"batch_size": 64}}
    L.seed_everything(0)
    for _, metrics in seeds_mod.train_seeds(seed_configs(user, 2)):
        trained, random = metrics["eval"]["trained"], metrics["eval"]["random init"]
        assert trained["digit_error_pct"] < random["digit_error_pct"] - 15, metrics["eval"]


STUDY = """
study: tiny-seeds
base:
  data: {image_size: 16, digit_size: 8}
  backbone: {width: 4}
  method: {proj_hidden_dim: 16, proj_dim: 8}
  optim: {batch_size: 16}
  trainer: {max_steps: 3, er_monitor: false}
arms:
  simclr: {method: {name: simclr}}
  moco: {method: {name: moco, queue_size: 64}}
seeds: 2
measures: [linear]
predictions: [{id: p, contrast: "simclr.linear - moco.linear > 0"}]
"""


def test_the_study_engine_trains_an_arms_seeds_in_one_model_and_the_rest_alone(tmp_path, capsys):
    study = tmp_path / "tiny.yaml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    assert main(["study", "run", str(study), "--out", str(out), "--jobs", "1", "--seeds-in-one-model"]) == 0
    trained = [line.rsplit(" in ", 1)[0] for line in capsys.readouterr().out.splitlines() if line.startswith("[trained")]
    assert trained == ["[trained 2/4] simclr (2 seeds in one model)", "[trained 3/4] moco-seed0",
                       "[trained 4/4] moco-seed1"]  # a progress line for the batched group too (rule 9)
    for arm, together in (("simclr", [0, 1]), ("moco", None)):
        for seed in (0, 1):
            metrics = json.loads((out / "encoders" / f"{arm}-seed{seed}" / "metrics.json").read_text())
            assert metrics.get("seeds_in_one_model") == together
            assert yaml.safe_load((out / "encoders" / f"{arm}-seed{seed}" / "config.yaml").read_text())[
                "trainer"]["seed"] == seed
    results = json.loads((out / "results.json").read_text())
    assert "p" in json.dumps(results)


def test_a_killed_batched_run_leaves_folders_that_resume_trains_alone_from_step_0(tmp_path, monkeypatch):
    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(seeds_mod, "_fit", killed)
    user = {**TINY, "trainer": {**TINY["trainer"], "out_dir": str(tmp_path), "name": "k"}}
    with pytest.raises(KeyboardInterrupt):
        seeds_mod.train_seeds(seed_configs(user, 2))
    monkeypatch.undo()
    assert not (tmp_path / "k-seed1" / "metrics.json").exists()
    run_dir, metrics = run_mod.train(resume=tmp_path / "k-seed1")
    assert metrics["steps"] == 3 and metrics["resumed_from_step"] == 0  # from step 0: no checkpoint
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["trainer"]["seed"] == 1
    assert mvssl.load(run_dir).embed(torch.zeros(1, 3, 16, 16, dtype=torch.uint8)).shape == (1, 32)


def test_batched_byol_logs_the_momentum_its_single_run_logs(tmp_path):
    import csv

    batched = _tiny_argv(tmp_path, "--method", "byol")
    single = batched[:1] + batched[3:]  # without --seeds 2: seed 0 alone
    single[single.index("tiny")] = "single"
    assert main(batched) == 0 and main(single) == 0

    def momentum(name):
        with open(tmp_path / "runs" / name / "logs" / "metrics.csv", newline="") as f:
            return [float(row["train/momentum"]) for row in csv.DictReader(f) if row.get("train/momentum")]

    assert momentum("tiny-seed0") == momentum("single") and len(momentum("single")) == 2
    assert momentum("single")[0] < momentum("single")[1] < 1  # the cosine schedule rises
