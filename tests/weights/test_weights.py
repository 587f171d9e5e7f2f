"""Backbone weights from files other libraries write: keys fitted (prefixes, classifier heads),
mismatches refused in one line, and files read without running code."""
from __future__ import annotations

import pickle

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from mvssl.nn import build_backbone
from mvssl.weights import WeightsError, best_prefix, load_into, read_weights


def _features(net, x):
    net.eval()
    with torch.no_grad():
        return net(x)


def test_a_torchvision_resnet18_with_its_classifier_and_a_ddp_prefix_loads_into_the_resnet18_backbone(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None, num_classes=7)
    path = tmp_path / "resnet18.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    backbone, _ = build_backbone("resnet18", cifar_stem=False)
    fitted = load_into(backbone, read_weights(path), "backbone resnet18")
    assert fitted.prefix == "module." and sorted(fitted.dropped) == ["module.fc.bias", "module.fc.weight"]
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(_features(backbone, x), _features(reference, x))


def test_the_same_file_refuses_the_small_image_stem_in_one_line_naming_the_shapes(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    backbone, _ = build_backbone("resnet18", cifar_stem=True)
    with pytest.raises(WeightsError) as err:
        load_into(backbone, read_weights(path), "backbone resnet18")
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "conv1.weight: file [64,3,7,7] vs backbone [64,3,3,3]" in message


def test_a_hugging_face_folder_with_safetensors_a_model_prefix_and_a_classifier(tmp_path):
    torch.manual_seed(2)
    source, _ = build_backbone("convnet", width=4)
    tensors = {f"convnet.{k}": v.clone() for k, v in source.state_dict().items()}
    tensors["classifier.1.weight"] = torch.zeros(10, 32)
    tensors["classifier.1.bias"] = torch.zeros(10)
    (tmp_path / "hf").mkdir()
    save_file(tensors, tmp_path / "hf" / "model.safetensors")
    target, _ = build_backbone("convnet", width=4)
    weights = read_weights(tmp_path / "hf")
    fitted = load_into(target, weights, "backbone convnet")
    assert weights.kind == "safetensors" and fitted.prefix == "convnet."
    x = torch.randn(3, 3, 16, 16)
    assert torch.equal(_features(target, x), _features(source, x))


def test_a_timm_style_safetensors_file_in_half_precision_without_bn_counters(tmp_path):
    source, _ = build_backbone("convnet", width=4)
    tensors = {k: v.half() for k, v in source.state_dict().items() if not k.endswith("num_batches_tracked")}
    tensors["head.fc.weight"] = torch.zeros(5, 32, dtype=torch.half)
    save_file(tensors, tmp_path / "convnet.safetensors")
    target, _ = build_backbone("convnet", width=4)
    fitted = load_into(target, read_weights(tmp_path / "convnet.safetensors"), "backbone convnet")
    assert fitted.prefix == "" and fitted.dropped == ["head.fc.weight"]
    assert torch.equal(target.features[0].weight, source.features[0].weight.half().float())


def test_another_architecture_is_refused_with_missing_unexpected_and_shapes_in_one_line(tmp_path):
    path = tmp_path / "w8.pt"
    torch.save(build_backbone("convnet", width=8)[0].state_dict(), path)
    with pytest.raises(WeightsError) as err:
        load_into(build_backbone("convnet", width=4)[0], read_weights(path), "backbone convnet")
    assert "\n" not in str(err.value) and "of another shape" in str(err.value)
    assert "features.0.weight: file [8,3,3,3] vs backbone [4,3,3,3]" in str(err.value)
    path = tmp_path / "vit.pt"
    torch.save(build_backbone("vit-tiny")[0].state_dict(), path)
    with pytest.raises(WeightsError) as err:
        load_into(build_backbone("convnet", width=4)[0], read_weights(path), "backbone convnet")
    assert "missing (features.0.weight [4,3,3,3]" in str(err.value) and "unexpected (" in str(err.value)


class _Trap:
    """Unpickling it would create a file: the test checks that the loader never does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "trap": _Trap(marker)}, path)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(_Trap(marker), f)
    for file in (path, tmp_path / "evil.pkl"):
        with pytest.raises(WeightsError) as err:
            read_weights(file)
        assert "\n" not in str(err.value)
        assert not marker.exists()
    assert "open" in str(read_weights_error(path))


def read_weights_error(path):
    try:
        read_weights(path)
    except WeightsError as err:
        return err


def test_non_tensor_contents_and_missing_files_are_one_line(tmp_path):
    torch.save({"epoch": 3, "note": "no tensors"}, tmp_path / "x.pt")
    with pytest.raises(WeightsError, match="holds no tensors"):
        read_weights(tmp_path / "x.pt")
    with pytest.raises(WeightsError, match="no such weight file"):
        read_weights(tmp_path / "nope.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="a folder without encoder.pt"):
        read_weights(tmp_path / "empty")


def test_best_prefix_is_the_one_that_matches_most_keys():
    target = {"a.weight", "b.weight", "b.bias"}
    assert best_prefix(["m.a.weight", "m.b.weight", "m.b.bias", "x.b.bias"], target) == "m."
    assert best_prefix(["a.weight", "b.weight"], target) == ""
