"""distill: a student backbone matches a frozen teacher's features across views."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from mvssl.build import build_method, build_teacher, resolve
from mvssl.cli import main
from mvssl.config import ConfigError
from mvssl.encoder import Encoder
from mvssl.export import export_encoder
from mvssl.losses import cosine_distillation_loss
from mvssl.nn import build_backbone
from tests.methods.tiny_training import optimise, tiny_images
from mvssl.views import simclr


def test_the_loss_is_one_minus_the_cosine_and_sends_no_gradient_to_the_teacher():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]], requires_grad=True)
    t = torch.tensor([[2.0, 0.0], [0.0, -1.0], [4.0, 3.0]], requires_grad=True)
    expected = ((1 - 1) + (1 - (-1)) + (1 - 24 / 25)) / 3
    loss = cosine_distillation_loss(s, t)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    loss.backward()
    assert t.grad is None and s.grad is not None


@pytest.fixture
def teacher_encoder(tmp_path):
    torch.manual_seed(3)
    cfg = resolve({"backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8}})
    Encoder.from_config(cfg).save(tmp_path / "teacher.pt")
    return tmp_path / "teacher.pt"


def student_config(teacher, **method) -> dict:
    return resolve({"method": {"name": "distill", "teacher": str(teacher), "proj_hidden_dim": 32, **method},
                    "backbone": {"width": 2}, "data": {"image_size": 24, "digit_size": 12}})


def test_an_mvssl_teacher_is_rebuilt_frozen_and_fed_the_views_resized_to_its_own_size(teacher_encoder):
    teacher, dim = build_teacher(student_config(teacher_encoder))
    reference = torch.load(teacher_encoder, weights_only=True)["state_dict"]
    net, _ = build_backbone("convnet", width=4)
    net.load_state_dict(reference)
    net.eval()
    x = torch.randn(4, 3, 24, 24)
    expected = net(F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False))
    teacher.train()  # the trainer's .train() must leave it in eval mode
    assert dim == 32 and not teacher.training and torch.allclose(teacher(x), expected, atol=1e-6)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_a_teacher_exported_as_safetensors_is_rebuilt_from_the_config_in_its_metadata(teacher_encoder, tmp_path):
    written = export_encoder(teacher_encoder, "safetensors", tmp_path / "teacher.safetensors")
    teacher, dim = build_teacher(student_config(written["file"]))  # no method.teacher_backbone needed
    net, _ = build_backbone("convnet", width=4)
    net.load_state_dict(torch.load(teacher_encoder, weights_only=True)["state_dict"])
    x = torch.randn(4, 3, 24, 24)
    expected = net.eval()(F.interpolate(x, size=(16, 16), mode="bilinear", antialias=True, align_corners=False))
    assert dim == 32 and torch.allclose(teacher(x), expected, atol=1e-6)


def test_a_plain_state_dict_teacher_needs_its_architecture_and_the_students_channels(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"model": {f"module.{k}": v for k, v in build_backbone("resnet18")[0].state_dict().items()}}, path)
    with pytest.raises(ConfigError, match="name its architecture with method.teacher_backbone"):
        build_teacher(student_config(path))
    teacher, dim = build_teacher(student_config(path, teacher_backbone="resnet18"))
    assert dim == 512
    one_channel = tmp_path / "grey.pth"
    torch.save(build_backbone("convnet", width=4, in_channels=1)[0].state_dict(), one_channel)
    with pytest.raises(ConfigError, match="reads 1-channel images, the student's views have 3"):
        build_teacher(student_config(one_channel, teacher_backbone="convnet", teacher_width=4))


def test_training_pulls_the_student_towards_the_teacher_which_does_not_move(teacher_encoder):
    torch.manual_seed(0)
    cfg = student_config(teacher_encoder)
    cfg["data"]["image_size"] = 16
    method, _ = build_method(cfg)
    before = {k: v.clone() for k, v in method.teacher.state_dict().items()}
    recipes = [simclr(16, min_scale=0.3), simclr(16, min_scale=0.3)]
    images = tiny_images(64)
    losses = optimise(method, lambda g: ([r(images, g)[0] for r in recipes], {}), 40, 3e-3, 0)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1
    assert all(torch.equal(v, method.teacher.state_dict()[k]) for k, v in before.items())


def test_cli_refusals_are_one_line_exit_2_and_leave_no_folder(teacher_encoder, tmp_path, capsys):
    out = tmp_path / "runs"
    base = ["train", "--method", "distill", "--trainer.out_dir", str(out), "--trainer.max_steps", "2"]
    for extra, needle in (([], "method.teacher: distill needs a teacher"),
                          (["--method.teacher", str(tmp_path / "nope.pt")], "no such weight file"),
                          (["--method.teacher", str(teacher_encoder), "--method.pairs", "both"],
                           "method.pairs: 'both' is not one of")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and err.count("\n") == 0, err
        assert not out.exists()


def test_a_distill_run_trains_saves_and_loads_as_a_student_encoder(teacher_encoder, tmp_path):
    from mvssl import load
    from mvssl.train import train

    run_dir, _ = train({"method": {"name": "distill", "teacher": str(teacher_encoder), "proj_hidden_dim": 32},
                        "backbone": {"width": 2}, "data": {"image_size": 16, "digit_size": 8},
                        "optim": {"batch_size": 32}, "eval": {"enabled": False},
                        "trainer": {"max_steps": 3, "progress": False, "out_dir": str(tmp_path), "name": "d"}},
                       echo=lambda *_: None)
    assert load(run_dir).embed(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)).shape == (2, 16)
    saved = (run_dir / "config.yaml").read_text()
    assert str(teacher_encoder.resolve()) in saved


@pytest.mark.slow  # two tiny real runs, about a minute on a quiet 2-core machine
def test_a_student_distilled_from_a_trained_teacher_beats_random_init(tmp_path):
    from mvssl.train import train

    small = {"data": {"image_size": 16, "digit_size": 12}, "optim": {"batch_size": 128, "warmup_steps": 10, "lr": 3e-3},
             "trainer": {"max_steps": 300, "progress": False, "checkpoint_every": 300, "out_dir": str(tmp_path)}}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        teacher, taught = train(json.loads(json.dumps({**small, "backbone": {"width": 8},
                                                  "method": {"proj_hidden_dim": 128, "proj_dim": 64},
                                                  "trainer": {**small["trainer"], "name": "teacher"}})),
                           echo=lambda *_: None)
        _, metrics = train(json.loads(json.dumps({**small, "backbone": {"width": 6},
                                                  "method": {"name": "distill", "teacher": str(teacher),
                                                             "proj_hidden_dim": 128},
                                                  "trainer": {**small["trainer"], "name": "student"}})),
                           echo=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    trained, random = metrics["eval"]["trained"], metrics["eval"]["random init"]
    teacher_gain = taught["eval"]["random init"]["digit_error_pct"] - taught["eval"]["trained"]["digit_error_pct"]
    assert teacher_gain > 5  # a teacher worth distilling (the tiny run's own check)
    # the student takes at least half of what its teacher learnt over random init
    assert random["digit_error_pct"] - trained["digit_error_pct"] > teacher_gain / 2


def test_the_registered_distillation_study_file_is_valid(capsys):
    from pathlib import Path

    study = Path(__file__).resolve().parents[2] / "configs" / "studies" / "distill_width8.yaml"
    assert main(["study", "check", str(study)]) == 0
    out = capsys.readouterr().out
    assert "distill-beats-simclr [claim]" in out and "6 runs" in out


def test_checkpoints_leave_the_frozen_teacher_out_and_a_resume_rebuilds_it_bitwise(teacher_encoder, tmp_path):
    import shutil

    from mvssl.build import load_method
    from mvssl.train import train
    from tests.train.run_files import encoder_weights

    def resume_a_copy(name):  # from the step-4 checkpoint
        shutil.copytree(reference, tmp_path / name)
        (tmp_path / name / "checkpoints" / "last.ckpt").unlink()
        (tmp_path / name / "encoder.pt").unlink()
        messages = []
        train({}, echo=messages.append, resume=tmp_path / name)
        return messages

    cfg = {"method": {"name": "distill", "teacher": str(teacher_encoder), "proj_hidden_dim": 32},
           "backbone": {"width": 2}, "data": {"image_size": 16, "digit_size": 8},
           "optim": {"batch_size": 16, "warmup_steps": 1}, "eval": {"enabled": False},
           "trainer": {"max_steps": 6, "checkpoint_every": 4, "progress": False, "out_dir": str(tmp_path),
                       "name": "whole", "precision": "32"}}
    reference, _ = train(cfg, echo=lambda *_: None)
    saved = torch.load(reference / "checkpoints" / "step0000004.ckpt", weights_only=True)
    assert not [k for k in saved["state_dict"] if k.startswith("method.teacher.")]
    assert [k for k in saved["state_dict"] if k.startswith("method.projector.")]
    teacher, _ = build_teacher(resolve(cfg))
    assert saved["mvssl_state"]["teachers"] == {"teacher": teacher.digest()}
    _, method = load_method(reference)  # the teacher rebuilt from its file, the rest from the checkpoint
    assert all(torch.equal(v, teacher.net.state_dict()[k]) for k, v in method.teacher.net.state_dict().items())
    assert any("(step 4)" in m for m in resume_a_copy("resumed"))
    a, b = encoder_weights(reference), encoder_weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(4)  # another teacher at the same path: resuming would silently distil another network
    Encoder.from_config(resolve({"backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8}})).save(
        teacher_encoder)
    with pytest.raises(ValueError, match="method.teacher .*teacher.pt: its weights are not those this run trained"):
        resume_a_copy("changed")
