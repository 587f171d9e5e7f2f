"""mvssl export: ONNX (run by onnxruntime), TorchScript and safetensors give Encoder.embed's
features; Encoder.embed(tokens=True) gives dense features."""
from __future__ import annotations

import pytest
import torch

import mvssl
from mvssl.build import resolve
from mvssl.cli import main
from mvssl.encoder import Encoder
from mvssl.export import export_encoder, parity_images

pytest.importorskip("onnxruntime")


def save_encoder(path, backbone: dict, seed: int = 1, trained_bn: bool = True):
    torch.manual_seed(seed)
    enc = Encoder.from_config(resolve({"backbone": backbone, "data": {"image_size": 16, "digit_size": 8}}))
    if trained_bn:  # BatchNorm statistics that are not the identity, as after training
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    enc.save(path)
    return path


def run_onnx(path, images):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"images": images.numpy()})[0])


@pytest.mark.parametrize("backbone", [{"width": 4}, {"name": "vit-tiny"}], ids=["convnet", "vit-tiny"])
def test_onnx_under_onnxruntime_gives_embed_to_1e_4_at_any_batch_size(tmp_path, backbone):
    path = save_encoder(tmp_path / "encoder.pt", backbone)
    result = export_encoder(path, "onnx", tmp_path / "e.onnx")
    encoder = mvssl.load(path)
    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(7))
    got = run_onnx(tmp_path / "e.onnx", images)  # exported with a batch of 2, run on 5
    assert got.shape == (5, encoder.backbone.out_dim if hasattr(encoder.backbone, "out_dim") else got.shape[1])
    assert (got - encoder.embed(images)).abs().max() < 1e-4
    assert result["parity_max_abs_diff"] < 1e-4 and result["parity_runner"] == "onnxruntime"


def test_tokens_are_feature_maps_for_convnets_and_patch_tokens_for_vits(tmp_path):
    images = parity_images(mvssl.load(save_encoder(tmp_path / "c.pt", {"width": 4})))
    conv = mvssl.load(tmp_path / "c.pt")
    maps = conv.embed(images, tokens=True)
    assert maps.shape == (8, 32, 2, 2)  # width 4 -> 32 channels; 16 px / 8
    assert torch.allclose(maps.mean((2, 3)), conv.embed(images), atol=1e-5)  # the pooled feature is their mean
    vit = mvssl.load(save_encoder(tmp_path / "v.pt", {"name": "vit-tiny"}))
    tokens = vit.embed(images, tokens=True)
    with torch.no_grad():
        expected = vit.backbone.tokens(vit.preprocess(images))[:, 1:]
    assert tokens.shape == (8, 16, 192) and torch.allclose(tokens, expected, atol=1e-5)
    result = export_encoder(tmp_path / "v.pt", "onnx", tmp_path / "v.onnx", tokens=True)
    assert result["parity_max_abs_diff"] < 1e-4
    with pytest.raises(ValueError, match="tokens=True gives the backbone's dense features"):
        vit.embed(images, tokens=True, representation="projection")


def test_torchscript_and_safetensors_round_trips(tmp_path):
    path = save_encoder(tmp_path / "encoder.pt", {"width": 4})
    encoder = mvssl.load(path)
    images = parity_images(encoder, 6, seed=3)
    export_encoder(path, "torchscript", tmp_path / "e.ts")
    assert torch.allclose(torch.jit.load(str(tmp_path / "e.ts"))(images), encoder.embed(images), atol=1e-5)
    export_encoder(path, "safetensors", tmp_path / "e.safetensors")
    again = mvssl.load(tmp_path / "e.safetensors")
    assert torch.equal(again.embed(images), encoder.embed(images))
    assert again.config == encoder.config
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match="bad.safetensors is not a readable safetensors file"):
        mvssl.load(tmp_path / "bad.safetensors")


class _NoOnnx(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.svdvals(x[:, :, :2, :2]).flatten(1)


def test_an_operator_onnx_lacks_is_named_in_one_line_and_no_file_is_left(tmp_path, monkeypatch, capsys):
    import mvssl.export as export

    path = save_encoder(tmp_path / "encoder.pt", {"width": 4})
    real_load = export.load

    def load_with_svd(p):
        enc = real_load(p)
        enc.backbone = _NoOnnx()
        return enc

    monkeypatch.setattr(export, "load", load_with_svd)
    assert main(["export", str(path), "--format", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "aten::linalg_svdvals" in err and "--format torchscript" in err
    assert not (tmp_path / "x.onnx").exists()


def test_cli_writes_beside_the_run_and_refuses_a_missing_run(tmp_path, capsys):
    path = save_encoder(tmp_path / "encoder.pt", {"width": 4})
    assert main(["export", str(path), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "export" / "encoder.onnx").is_file() and "parity: max |onnxruntime - Encoder.embed|" in out
    assert main(["export", str(tmp_path / "nope"), "--format", "onnx"]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["export", str(path), "--format", "safetensors", "--tokens"]) == 2
