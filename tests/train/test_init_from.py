"""--init-from RUN and --backbone.weights FILE: a new run starts from weights on disk, records
where they came from, and is never confused with --resume."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from mvssl.build import build_method, resolve
from mvssl.cli import main
from mvssl.export import export_encoder
from mvssl.train import train
from mvssl.train.init import record_origin
from mvssl.train.new_run import new_run_config
from tests.train.run_files import encoder_weights

TINY = {"data": {"image_size": 16, "digit_size": 12}, "backbone": {"width": 4},
        "method": {"proj_hidden_dim": 32, "proj_dim": 16}, "optim": {"batch_size": 32},
        "trainer": {"max_steps": 3, "progress": False}, "eval": {"enabled": False}}


def tiny(out: Path, name: str, **sections) -> dict:
    cfg = json.loads(json.dumps(TINY))
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    cfg["trainer"].update(out_dir=str(out), name=name)
    return cfg


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    run_dir, _ = train(tiny(out, "source"), echo=lambda *_: None)
    return run_dir


def _checkpoint_method(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    return {k.removeprefix("method."): v for k, v in state.items() if k.startswith("method.")}


def test_init_from_takes_the_runs_backbone_and_heads_and_records_the_path(source_run, tmp_path):
    user = {"trainer": {"init_from": str(source_run), "out_dir": str(tmp_path)}, "data": {"backgrounds": "noise"}}
    cfg, initial = new_run_config(user)
    assert cfg["backbone"]["width"] == 4 and cfg["method"]["proj_dim"] == 16  # the source run's architecture
    assert cfg["trainer"]["init_from"] == str(source_run.resolve())
    method, _ = build_method(cfg, num_samples=100, initial=initial)
    trained = _checkpoint_method(source_run)
    for key, value in method.state_dict().items():
        assert torch.equal(value, trained[key]), key
    assert method.carried_state == {"carried": ["projector"], "redrawn": []}


def test_an_exported_safetensors_encoder_starts_a_run_like_its_encoder_pt(source_run, tmp_path):
    written = export_encoder(source_run, "safetensors", tmp_path / "encoder.safetensors")
    cfg, initial = new_run_config({"trainer": {"init_from": written["file"], "out_dir": str(tmp_path)}})
    assert initial.kind == "mvssl-encoder" and cfg["backbone"]["width"] == 4  # the architecture in its metadata
    method, _ = build_method(cfg, num_samples=100, initial=initial)
    for key, value in encoder_weights(source_run).items():
        assert torch.equal(method.backbone.state_dict()[key], value), key
    said = []  # an encoder holds no head: weights-origin.json says the projector was drawn fresh
    origin = record_origin(tmp_path, cfg, initial, method, echo=said.append)
    assert (origin["carried"], origin["redrawn"], origin["method_state_in_file"]) == ([], ["projector"], False)
    assert json.loads((tmp_path / "weights-origin.json").read_text()) == origin
    assert "carried over: none (the file holds the backbone only), redrawn: projector" in said[0]


def test_another_method_keeps_the_backbone_copies_it_into_its_target_and_redraws_other_heads(source_run):
    cfg, initial = new_run_config({"trainer": {"init_from": str(source_run)}, "method": {"name": "byol"}})
    method, _ = build_method(cfg, num_samples=100, initial=initial)
    backbone = encoder_weights(source_run)
    for key, value in backbone.items():
        assert torch.equal(method.backbone.state_dict()[key], value)
        assert torch.equal(method.target_backbone.state_dict()[key], value)  # the EMA target starts as the backbone
    assert "predictor" in method.carried_state["redrawn"]


def test_a_continued_run_writes_its_origin_and_config(source_run, tmp_path):
    run_dir, _ = train({"trainer": {"init_from": str(source_run), "out_dir": str(tmp_path), "name": "next",
                                    "max_steps": 2, "progress": False},
                        "data": {"image_size": 16, "digit_size": 12, "backgrounds": "noise"},
                        "optim": {"batch_size": 32}, "eval": {"enabled": False}}, echo=lambda *_: None)
    origin = json.loads((run_dir / "weights-origin.json").read_text())
    assert origin["option"] == "--init-from" and origin["source"] == str(source_run.resolve())
    assert origin["kind"] == "mvssl-checkpoint" and len(origin["sha256"]) == 64
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["init_from"] == str(source_run.resolve()) and saved["backbone"]["width"] == 4


def _no_new_folder(out: Path, argv: list[str], capsys) -> str:
    before = sorted(out.rglob("*")) if out.exists() else []
    assert main(argv) == 2
    assert (sorted(out.rglob("*")) if out.exists() else []) == before
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("mvssl: error:")
    return err


def test_refusals_are_one_line_exit_2_and_create_nothing(source_run, tmp_path, capsys):
    out = tmp_path / "runs"
    base = ["train", "--trainer.out_dir", str(out), "--trainer.max_steps", "2"]
    err = _no_new_folder(out, base + ["--init-from", str(source_run), "--resume", str(source_run)], capsys)
    assert "give one" in err
    err = _no_new_folder(out, base + ["--init-from", str(source_run), "--backbone.width", "8"], capsys)
    assert "backbone.width 8 here, 4 in the run" in err
    plain = tmp_path / "plain.pt"
    torch.save(encoder_weights(source_run), plain)
    err = _no_new_folder(out, base + ["--init-from", str(plain)], capsys)
    assert "--backbone.weights FILE" in err
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "config.yaml").write_text((source_run / "config.yaml").read_text())
    err = _no_new_folder(out, base + ["--init-from", str(unfinished)], capsys)
    assert f"--resume {unfinished}" in err
    err = _no_new_folder(out, base + ["--init-from", str(tmp_path / "nope")], capsys)
    assert "no such weight file or run folder" in err
    err = _no_new_folder(out, base + ["--backbone.width", "8", "--backbone.weights", str(plain)], capsys)
    assert "features.0.weight: file [4,3,3,3] vs backbone [8,3,3,3]" in err


def test_backbone_weights_from_a_prefixed_state_dict_start_the_run(source_run, tmp_path):
    prefixed = tmp_path / "w.pth"
    state = {f"model.{k}": v for k, v in encoder_weights(source_run).items()}
    state["model.head.weight"] = torch.zeros(3, 32)
    torch.save({"model": state}, prefixed)
    cfg, initial = new_run_config(tiny(tmp_path, "w", backbone={"weights": str(prefixed)}))
    method, _ = build_method(cfg, num_samples=100, initial=initial)
    assert cfg["backbone"]["weights"] == str(prefixed.resolve())
    for key, value in encoder_weights(source_run).items():
        assert torch.equal(method.backbone.state_dict()[key], value)
    assert method.initial_fit.prefix == "model." and method.initial_fit.dropped == ["model.head.weight"]
    assert resolve(cfg) == cfg  # the recorded config resolves to itself


def test_a_run_killed_before_its_first_checkpoint_starts_again_from_its_weights(source_run, tmp_path):
    run_dir, _ = train({"trainer": {"init_from": str(source_run), "out_dir": str(tmp_path), "name": "k",
                                    "max_steps": 2, "progress": False},
                        "data": {"image_size": 16, "digit_size": 12}, "optim": {"batch_size": 32},
                        "eval": {"enabled": False}}, echo=lambda *_: None)
    for name in ("metrics.json", "encoder.pt", "weights-origin.json"):  # as if killed before step 1's checkpoint
        (run_dir / name).unlink()
    for ckpt in (run_dir / "checkpoints").iterdir():
        ckpt.unlink()
    said = []
    train(resume=run_dir, echo=said.append)
    assert any(line.startswith("weights: 48 tensors from") for line in said)
    assert json.loads((run_dir / "weights-origin.json").read_text())["source"] == str(source_run.resolve())


def test_a_resume_continues_from_its_checkpoint_without_the_weight_file(source_run, tmp_path):
    weights = tmp_path / "w.pt"
    torch.save(encoder_weights(source_run), weights)
    run_dir, _ = train(tiny(tmp_path, "w", backbone={"weights": str(weights)}, trainer={"max_steps": 2}),
                       echo=lambda *_: None)
    weights.unlink()  # the checkpoint holds the weights now
    _, metrics = train({"trainer": {"max_steps": 3}}, resume=run_dir, echo=lambda *_: None)
    assert metrics["steps"] == 3 and metrics["resumed_from_step"] == 2


def test_another_method_starts_from_the_encoder_the_run_kept_the_same_method_continues_its_backbone(tmp_path):
    """I-JEPA keeps its EMA target encoder (encoder.pt); its context encoder is method.backbone."""
    run_dir, _ = train({"method": {"name": "ijepa", "predictor_width": 16, "predictor_depth": 1,
                                   "predictor_heads": 2, "base_momentum": 0.5},
                        "backbone": {"name": "vit-mini"}, "data": {"image_size": 16, "digit_size": 12},
                        "optim": {"batch_size": 8, "warmup_steps": 1}, "eval": {"enabled": False},
                        "trainer": {"max_steps": 2, "progress": False, "out_dir": str(tmp_path), "name": "ijepa"}},
                       echo=lambda *_: None)
    kept = encoder_weights(run_dir)
    context = {k.removeprefix("backbone."): v for k, v in _checkpoint_method(run_dir).items()
               if k.startswith("backbone.")}
    assert not torch.equal(kept["patch_embed.weight"], context["patch_embed.weight"])
    for method, expected in (("mae", kept), ("ijepa", context)):
        cfg, initial = new_run_config({"trainer": {"init_from": str(run_dir)}, "method": {"name": method}})
        built, _ = build_method(cfg, num_samples=100, initial=initial)
        assert all(torch.equal(v, expected[k]) for k, v in built.backbone.state_dict().items()), method
