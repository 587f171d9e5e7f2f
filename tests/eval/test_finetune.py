"""mvssl eval finetune: the whole backbone trained with a head, at its own learning rate, beside
the linear probe and training from scratch."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mvssl.cli import main
from mvssl.eval.finetune import backbone_blocks, finetune, parameter_groups
from mvssl.nn import build_backbone
from tests.data.fakedata import class_images, tiny_encoder, write_image_folder


def test_learning_rates_per_group_head_backbone_scale_and_layer_decay():
    backbone, dim = build_backbone("convnet", width=2)
    head = torch.nn.Linear(dim, 3)
    groups = parameter_groups(backbone, head, lr=1.0, backbone_lr_scale=0.1, layer_decay=0.5, weight_decay=0.0)
    blocks = backbone_blocks(backbone)
    assert groups[0]["lr"] == 1.0 and len(groups) == 1 + len(blocks) == 1 + 16  # 8 convs + 8 BNs
    assert [g["lr"] for g in groups[1:]] == pytest.approx([0.1 * 0.5 ** (15 - i) for i in range(16)])
    seen = [id(p) for g in groups[1:] for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in backbone.parameters())  # every parameter once
    vit, _ = build_backbone("vit-tiny")
    vit_blocks = backbone_blocks(vit)
    assert len(vit_blocks) == 1 + 1 + 12 + 1  # class token/positions, patch embedding, 12 blocks, final norm


def coloured(n_per_class: int, seed: int):
    labels = np.repeat(np.arange(3), n_per_class)
    return torch.from_numpy(class_images(labels, 16, seed)), torch.from_numpy(labels).long()


def normalise(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 127.5 - 1


def test_finetuning_learns_separable_classes_leaves_the_original_alone_and_is_seeded():
    torch.manual_seed(0)
    backbone, dim = build_backbone("convnet", width=2)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    (xtr, ytr), (xte, yte) = coloured(40, 0), coloured(10, 1)
    first = finetune(backbone, dim, 3, normalise, xtr, ytr, xte, yte, steps=60, lr=1e-2, batch_size=32, seed=3)
    assert first["top1"] > 0.9 and first["val_top1"] > 0.9  # chance is 1/3
    assert first["num_fit"] + first["num_held_out"] == 120 and 1 <= first["best_step"] <= 60
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())
    short = [finetune(backbone, dim, 3, normalise, xtr, ytr, xte, yte, steps=4, batch_size=8, seed=s)
             for s in (5, 5, 6)]
    assert short[0] == short[1] and short[0]["num_fit"] == short[2]["num_fit"]


def test_a_zero_backbone_rate_trains_the_head_only():
    backbone, dim = build_backbone("convnet", width=2)
    (xtr, ytr), (xte, yte) = coloured(10, 0), coloured(5, 1)
    frozen = finetune(backbone, dim, 3, normalise, xtr, ytr, xte, yte, steps=5, backbone_lr_scale=0.0, batch_size=8,
                      keep_network=True)["network"]
    moving = finetune(backbone, dim, 3, normalise, xtr, ytr, xte, yte, steps=5, backbone_lr_scale=1.0, batch_size=8,
                      keep_network=True)["network"]
    original = dict(backbone.named_parameters())
    assert all(torch.equal(p, original[n]) for n, p in frozen[0].named_parameters())
    assert not all(torch.equal(p, original[n]) for n, p in moving[0].named_parameters())
    assert not torch.equal(frozen[1].weight, moving[1].weight * 0)  # the head trained in both


def test_cli_table_has_finetune_linear_and_scratch_rows_and_refuses_bad_options(tmp_path, capsys):
    encoder = tiny_encoder(tmp_path / "encoder.pt")
    write_image_folder(tmp_path / "images", classes=3, per_class=10, size=16, corrupt=0)
    argv = ["eval", "finetune", str(encoder), "--dataset", "folder", "--root", str(tmp_path / "images"),
            "--steps", "4", "--train-batch", "8", "--out", str(tmp_path / "ft.json")]
    assert main(argv) == 0
    result = json.loads((tmp_path / "ft.json").read_text())
    assert {"finetune", "linear", "scratch"} <= set(result) and result["finetune"]["steps"] == 4
    table = (tmp_path / "ft.md").read_text()
    assert "fine-tune (backbone lr x0.1)" in table and "linear probe" in table and "from scratch" in table
    capsys.readouterr()
    for bad, needle in ((["--steps", "0"], "--steps 0: must be at least 1"),
                        (["--layer-decay", "2"], "--layer-decay 2.0: must be in (0, 1]"),
                        (["--lr", "0"], "--lr 0.0: must be > 0")):
        assert main(argv + bad) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and err.count("\n") == 0, err
