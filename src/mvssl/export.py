"""``mvssl export RUN --format onnx|torchscript|safetensors``: a trained encoder outside mvssl
(docs/domain.md). The ONNX and TorchScript models take uint8 [N, 3, S, S] at the encoder's size S and
give what ``Encoder.embed`` gives (scaling and normalisation inside the model; ``--tokens``: dense
features); the written file is run on seeded images and its largest difference from ``Encoder.embed``
reported. ``safetensors`` keeps the config in the file's metadata, so ``mvssl.load`` reads it back."""
from __future__ import annotations

import json
import importlib.util
import re
import warnings
from pathlib import Path

import torch
from torch import nn

from .encoder import Encoder, load
from .nn.backbones import spatial_features

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "safetensors": ".safetensors"}
PARITY_IMAGES = 8


class ExportError(ValueError):
    """An encoder that cannot be exported in the asked format (one line)."""


class ImagesToFeatures(nn.Module):
    """uint8 [N, 3, S, S] -> the encoder's features, preprocessing inside the graph."""

    def __init__(self, encoder: Encoder, tokens: bool = False):
        super().__init__()
        self.backbone, self.tokens = encoder.backbone, tokens
        self.register_buffer("mean", encoder.mean.detach().clone())
        self.register_buffer("std", encoder.std.detach().clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255.0 - self.mean) / self.std
        return spatial_features(self.backbone, x) if self.tokens else self.backbone(x)


def parity_images(encoder: Encoder, n: int = PARITY_IMAGES, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    channels = len(encoder.mean)
    return torch.randint(0, 256, (n, channels, encoder.image_size, encoder.image_size), generator=g, dtype=torch.uint8)


def unsupported_operator(err: BaseException) -> str | None:
    """The ``aten::`` operator an ONNX export failed on, from the exporter's message."""
    found = re.search(r"operator '?(aten::\w+|aten\.\w+)", str(err)) or re.search(r"(aten::\w+)", str(err))
    return found.group(1) if found else None


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path, opset: int) -> None:
    if importlib.util.find_spec("onnx") is None:  # the exporter needs it; say so in one line
        raise ExportError("--format onnx needs the onnx package: pip install 'mvssl[export]'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation and tracer notes
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=opset,
                              input_names=["images"], output_names=["features"],
                              dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})
    except Exception as err:  # noqa: BLE001 - every exporter failure becomes one line naming the operator
        path.unlink(missing_ok=True)
        op = unsupported_operator(err)
        what = f"operator {op}" if op else (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ExportError(f"ONNX (opset {opset}) cannot export this backbone: {what} has no ONNX form; export "
                          "--format torchscript or safetensors instead") from None


def run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor | None:
    """The ONNX file's output under onnxruntime, None when onnxruntime is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"images": images.numpy()})[0])


def export_encoder(run: str | Path, fmt: str, out: str | Path | None = None, tokens: bool = False,
                   opset: int = 17) -> dict:
    """Write the encoder of ``run`` (a run folder, ``encoder.pt`` or checkpoint) in ``fmt``;
    returns what was written and, for onnx/torchscript, the parity with ``Encoder.embed``."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt}: choose from {', '.join(FORMATS)}")
    encoder = load(run)
    folder = Path(run) if Path(run).is_dir() else Path(run).parent
    path = Path(out) if out else folder / "export" / f"encoder{'-tokens' if tokens else ''}{FORMATS[fmt]}"
    if fmt == "safetensors" and tokens:
        raise ExportError("--tokens applies to onnx and torchscript (safetensors holds weights, not a graph)")
    path.parent.mkdir(parents=True, exist_ok=True)
    images = parity_images(encoder)
    result = {"run": str(run), "format": fmt, "file": str(path), "image_size": encoder.image_size, "tokens": tokens}
    if fmt == "safetensors":
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in encoder.backbone.state_dict().items()}
        save_file(state, str(path), metadata={"format": "mvssl-encoder", "config": json.dumps(encoder.config)})
        result["tensors"] = len(state)
        return result
    model = ImagesToFeatures(encoder, tokens).eval()
    reference = encoder.embed(images, tokens=tokens)
    if fmt == "onnx":
        export_onnx(model, images[:2], path, opset)
        exported, runner = run_onnx(path, images), "onnxruntime"
    else:
        try:
            with torch.no_grad():
                traced = torch.jit.trace(model, images[:2], check_trace=False)
        except Exception as err:  # noqa: BLE001
            raise ExportError(f"TorchScript cannot trace this backbone: {str(err).strip().splitlines()[0]}") from None
        traced.save(str(path))
        with torch.no_grad():
            exported, runner = torch.jit.load(str(path))(images), "torch.jit.load"
    if exported is not None:
        result.update(parity_images=len(images), parity_runner=runner,
                      parity_max_abs_diff=float((exported.float() - reference).abs().max()))
    return result


COMMAND = "export"  # its options: cli.py's _export_parser


def run(args) -> int:
    if not Path(args.run).exists():
        raise ValueError(f"no such run folder, encoder.pt or checkpoint: {args.run}")
    result = export_encoder(args.run, args.format, args.out, args.tokens, args.opset)
    print(f"wrote {result['file']} ({args.format}; uint8 images [N, C, {result['image_size']}, "
          f"{result['image_size']}] in)" if args.format != "safetensors" else
          f"wrote {result['file']} (safetensors: {result['tensors']} tensors, config in the metadata)")
    if "parity_max_abs_diff" in result:
        print(f"parity: max |{result['parity_runner']} - Encoder.embed| = {result['parity_max_abs_diff']:.3g} on "
              f"{result['parity_images']} seeded images")
    elif args.format == "onnx":
        print("parity not checked: onnxruntime is not installed (pip install onnxruntime)")
    return 0
