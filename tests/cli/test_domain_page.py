"""docs/domain.md: every ``mvssl`` command in its bash blocks runs, in order, on small generated
data (the files the commands name are made here), with options appended that keep the runs tiny."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
import torchvision

from mvssl.cli import main
from tests.data.fakedata import write_image_folder

DOC = Path(__file__).resolve().parents[2] / "docs" / "domain.md"
# appended to every training command (later options win): seconds, not minutes
SMALL_EVAL = ["--steps", "3", "--train-batch", "8"]
SMALL_TRAIN = ["--trainer.max_steps", "3", "--optim.batch_size", "8", "--trainer.progress", "false",
               "--eval.enabled", "false", "--data.image_size", "32", "--trainer.precision", "32"]


def doc_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("mvssl ")]


def small(argv: list[str]) -> list[str]:
    if argv[0] == "train":
        return argv + SMALL_TRAIN
    if argv[:2] == ["eval", "finetune"]:
        return argv + SMALL_EVAL
    return argv


@pytest.fixture
def domain(tmp_path, monkeypatch):
    """What the page's commands read: an image folder, a torchvision ResNet-18 state dict, a
    finished base run (the commands write the rest)."""
    monkeypatch.chdir(tmp_path)
    write_image_folder(tmp_path / "my_images", classes=3, per_class=8, size=20, corrupt=0)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    base = ["train", "--trainer.name", "simclr-base", "--backbone.width", "4", "--data.digit_size", "12"]
    assert main(small(base)) == 0
    return tmp_path


def test_every_command_on_the_page_parses():
    from mvssl.build import resolve
    from mvssl.cli import build_parser
    from mvssl.config import deep_update
    from mvssl.config_text import parse_overrides

    commands = doc_commands()
    assert [c[:2] for c in commands][:2] == [["train", "--backbone.name"], ["train", "--init-from"]]
    for argv in commands:
        args, extra = build_parser(argv[0]).parse_known_args(argv)
        if argv[0] == "train":
            resolve(deep_update(parse_overrides(extra), {"method": {"teacher": "x"}} if "distill" in argv else {}))
        else:
            assert extra == [], argv


@pytest.mark.slow  # five real commands, about 10 s on a quiet 2-core machine
def test_every_command_on_the_page_runs(domain, capsys):
    commands = doc_commands()
    assert len(commands) >= 2
    for argv in commands:
        assert main(small(argv)) == 0, argv
    assert sorted(p.name for p in (domain / "runs").iterdir() if (p / "weights-origin.json").exists())
