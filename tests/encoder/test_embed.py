"""``Encoder.embed`` takes images as users hold them (NHWC or NCHW, uint8 or float, greyscale,
one image, PIL images, file paths, lists), gives the same features for the same pixels
whichever form they come in, refuses anything else in one line, and can return the projection
head's output."""
import numpy as np
import pytest
import torch
from PIL import Image

from mvssl.build import resolve
from mvssl.encoder import Encoder, load

rng = np.random.default_rng(0)
BATCH = rng.integers(0, 256, (4, 3, 16, 16), dtype=np.uint8)  # the reference: uint8 NCHW


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return Encoder.from_config(resolve({"backbone": {"width": 4}, "data": {"image_size": 16, "digit_size": 8}})).eval()


@pytest.fixture(scope="module")
def reference(encoder):
    return encoder.embed(torch.from_numpy(BATCH))


def test_every_form_of_the_same_pixels_gives_the_same_features(encoder, reference, tmp_path):
    nhwc = BATCH.transpose(0, 2, 3, 1)
    for path_index, image in enumerate(nhwc):
        Image.fromarray(image).save(tmp_path / f"{path_index}.png")
    forms = {
        "numpy NCHW": BATCH, "numpy NHWC": nhwc, "tensor NHWC": torch.from_numpy(nhwc),
        "float [0, 1]": BATCH.astype(np.float32) / 255, "float64 NHWC": nhwc / 255.0,
        "int64": BATCH.astype(np.int64), "uint16": BATCH.astype(np.uint16) * 257,
        "PIL list": [Image.fromarray(im) for im in nhwc], "paths": [tmp_path / f"{i}.png" for i in range(4)],
        "str paths": [str(tmp_path / f"{i}.png") for i in range(4)],
        "list of CHW": list(BATCH), "list of HWC tensors": [torch.from_numpy(im) for im in nhwc],
    }
    for name, images in forms.items():
        assert torch.equal(encoder.embed(images), reference), name
    # one image (a batch of one may take another kernel: equal up to float rounding)
    assert torch.allclose(encoder.embed(nhwc[0]), reference[:1], rtol=1e-5, atol=1e-7)  # channels last
    assert torch.allclose(encoder.embed(Image.fromarray(nhwc[1])), reference[1:2], rtol=1e-5, atol=1e-7)
    assert torch.allclose(encoder.embed(tmp_path / "2.png"), reference[2:3], rtol=1e-5, atol=1e-7)


def test_greyscale_is_the_grey_image_repeated_to_rgb(encoder):
    grey = rng.integers(0, 256, (2, 16, 16), dtype=np.uint8)
    rgb = encoder.embed(np.repeat(grey[:, None], 3, axis=1))
    for form in (grey[:, None], grey[..., None], [Image.fromarray(g, "L") for g in grey]):
        assert torch.equal(encoder.embed(form), rgb)
    assert torch.allclose(encoder.embed(grey[0]), rgb[:1], rtol=1e-5, atol=1e-7)  # one [H, W] image


def test_images_of_different_sizes_in_one_list_are_each_cropped_and_resized(encoder):
    small, wide = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)
    both = encoder.embed([small, wide])
    assert torch.allclose(both[0], encoder.embed(small)[0], atol=1e-5)
    assert torch.allclose(both[1], encoder.embed(wide)[0], atol=0.05)  # resized once in uint8 instead of in float


@pytest.mark.parametrize("bad, expected", [
    ("nope.png", "no such image file"), (np.zeros((2, 4, 16, 16), np.uint8), "neither 1 nor 3 channels"),
    (np.full((1, 3, 8, 8), 2.0, np.float32), "float values must lie in [0, 1]"),
    (np.full((1, 3, 8, 8), np.nan, np.float32), "NaN"), (np.full((1, 3, 8, 8), 300), "0..255"),
    ({"a": 1}, "got dict"), ([], "empty list"), (np.zeros((1, 1, 3, 8, 8), np.uint8), "shape (1, 1, 3, 8, 8)"),
    (np.array(["a"]), "dtype <U1"),
])
def test_anything_else_is_one_clear_error(encoder, bad, expected, tmp_path):
    with pytest.raises(ValueError, match="embed: .*it accepts") as err:
        encoder.embed(bad)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_the_projection_head_output_is_the_trained_projector_of_the_backbone_features(tmp_path):
    from mvssl.train import train

    cfg = {"data": {"dataset": "shapes", "image_size": 16}, "views": {"name": "simclr"}, "backbone": {"width": 4},
           "method": {"proj_hidden_dim": 32, "proj_dim": 16}, "optim": {"batch_size": 8, "warmup_steps": 1},
           "eval": {"enabled": False},
           "trainer": {"max_steps": 2, "progress": False, "out_dir": str(tmp_path), "name": "p"}}
    run_dir, _ = train(cfg, echo=lambda *_: None)
    enc = load(run_dir)
    images = rng.integers(0, 256, (3, 3, 16, 16), dtype=np.uint8)
    z = enc.embed(images, representation="projection")
    weights = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    projector = {k[len("method.projector."):]: v for k, v in weights.items() if k.startswith("method.projector.")}
    assert z.shape == (3, 16) and projector
    enc.projector.load_state_dict(projector)  # the trained projector, read here from the training checkpoint
    assert torch.allclose(z, enc.embed(images, representation="projection"))
    assert not torch.allclose(z[:, :8], enc.embed(images)[:, :8])  # not the backbone features
    from_ckpt = load(run_dir / "checkpoints" / "last.ckpt")
    assert torch.allclose(from_ckpt.embed(images, representation="projection"), z)
    plain = Encoder.from_config(enc.config)
    with pytest.raises(ValueError, match="needs the projection head"):
        plain.embed(images, representation="projection")
