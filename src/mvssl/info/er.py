"""``mvssl info er RUN``: entropy, reconstruction and I_ER of a trained run's projections
(Rodriguez-Galvez et al. 2023; the measures are defined in docs/er.md, the estimators are
``mvssl.losses.er``). The run's whole method (heads, teacher, prototypes) is rebuilt from its config and
newest complete checkpoint, and its own view source makes the view pairs (training split by default)."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from ..losses import sinkhorn
from ..methods import SwAV
from ..losses.er import (ENTROPY_ESTIMATORS, cross_entropy_reconstruction, marginal_entropy, vmf_kde_entropy,
                         vmf_log_normaliser, vmf_reconstruction_error)
from ..build import build_dataset, build_view_source, load_method, resolve
from ..eval.report import write_report

COMMAND = "er"
HELP = "entropy, reconstruction and I_ER of a trained run's projections (docs/er.md)"
DATA_REFUSAL = "it measures the run on the run's own dataset and views (its config.yaml); only --root (where that data lives now) applies"


def add_arguments(parser) -> None:
    parser.add_argument("run", help="run folder (with config.yaml and checkpoints/)")
    parser.add_argument("--kappa", type=float, default=10.0, help="vMF concentration (KDE kernel and q)")
    parser.add_argument("--batch-size", type=int, help="images per batch (default: the run's optim.batch_size)")
    parser.add_argument("--batches", type=int, default=4, help="batches to average the estimates over")
    parser.add_argument("--split", default="train", choices=["train", "test"],
                        help="which Colorful-Moving-MNIST digits make the views (cmnist runs only; other datasets "
                             "use the run's training images)")
    parser.add_argument("--root", help="where the run's dataset lives now, if moved (default: the run's data.root); "
                                       "the dataset and views are always the run's own")
    parser.add_argument("--seed", type=int, default=0, help="which images and views")
    parser.add_argument("--out", help="folder for er.json and er.md (default: RUN/info)")


@torch.no_grad()
def discrete_pair(method, v1: torch.Tensor, v2: torch.Tensor):
    """(view 2's target distribution [N, K], view 1's predicted log-distribution [N, K]) as
    the method trains them, or None for a method without cluster assignments."""
    if hasattr(method, "teacher_head") and hasattr(method, "centre"):  # DINO
        teacher = method.teacher_head(method.teacher_backbone(v2)).float()
        target = F.softmax((teacher - method.centre.value) / method.current_teacher_temperature(), dim=-1)
        return target, F.log_softmax(method.head(method.backbone(v1)).float() / method.student_temperature, dim=-1)
    if isinstance(method, SwAV):  # and ER-SwAV; DeepCluster's targets are per-sample k-means clusters: none here
        def scores(v):
            return F.normalize(method.projector(method.backbone(v)).float(), dim=1) @ method.prototypes.weight.t()
        codes = sinkhorn(scores(v2), method.epsilon, method.sinkhorn_iterations)
        return codes, F.log_softmax(scores(v1) / method.temperature, dim=-1)
    return None


@torch.no_grad()
def batch_measures(method, views: list[torch.Tensor], kappa: float) -> dict[str, float]:
    out = method(views)
    z1, z2 = out.embeddings[0].float(), out.embeddings[1].float()
    m = {**{f"entropy_{e}": float(vmf_kde_entropy(z2, kappa, e)) for e in ENTROPY_ESTIMATORS},
         "reconstruction": -float(vmf_reconstruction_error(z2, z1, kappa)), "projection_dim": z1.shape[1]}
    # BYOL / SimSiam: q's mean direction is the prediction from view 1 (I-JEPA's predictor maps context
    # tokens to target tokens, not a projection to a projection: it declares predicts_projection = False)
    if getattr(method, "predicts_projection", hasattr(method, "predictor")):
        m["reconstruction_predictor"] = -float(vmf_reconstruction_error(z2, method.predictor(out.embeddings[0]), kappa))
    pair = discrete_pair(method, views[0], views[1])
    if pair is not None:
        target, log_probs = pair
        m["discrete_entropy"] = float(marginal_entropy(target))
        m["discrete_reconstruction"] = -float(cross_entropy_reconstruction(target, log_probs))
    return m


def measure_run(run_dir: str | Path, kappa: float = 10.0, batch_size: int | None = None, batches: int = 4,
                split: str = "train", seed: int = 0, root: str | None = None) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ValueError(f"{run_dir}: not an mvssl run folder (no config.yaml)")
    saved = resolve(yaml.safe_load((run_dir / "config.yaml").read_text()))
    if root is not None:
        saved["data"]["root"] = root
    if split != "train" and saved["data"]["dataset"] != "cmnist":
        raise ValueError(f"--split {split}: {run_dir} trained on {saved['data']['dataset']}, whose views are made "
                         "from its training images; --split applies to Colorful-Moving-MNIST runs only")
    dataset = build_dataset(saved, split)
    source = build_view_source(saved, dataset)
    cfg, method = load_method(run_dir, len(source))
    batch_size = batch_size or cfg["optim"]["batch_size"]
    if not 2 <= batch_size <= len(source):
        raise ValueError(f"--batch-size {batch_size}: need 2..{len(source)} (the {split} split's size)")
    g = torch.Generator().manual_seed(seed)
    per_batch = []
    for _ in range(batches):
        views, _ = source(torch.randperm(len(source), generator=g)[:batch_size], g)
        if len(views) < 2:
            raise ValueError(f"{run_dir}: its view source makes {len(views)} view(s); I_ER needs two")
        per_batch.append(batch_measures(method, views, kappa))
    mean = {k: sum(b[k] for b in per_batch) / len(per_batch) for k in per_batch[0]}  # projection_dim: constant
    mean["i_er"] = mean["entropy_average"] + mean["reconstruction"]
    if "reconstruction_predictor" in mean:
        mean["i_er_predictor"] = mean["entropy_average"] + mean["reconstruction_predictor"]
    if "discrete_entropy" in mean:
        mean["discrete_i_er"] = mean["discrete_entropy"] + mean["discrete_reconstruction"]
    dim = int(mean.pop("projection_dim"))
    return {"run": str(run_dir), "method": cfg["method"]["name"], "kappa": kappa, "batch_size": batch_size,
            "batches": batches, "split": split, "seed": seed, "projection_dim": dim,
            "log_vmf_normaliser": vmf_log_normaliser(dim, kappa), "estimates": mean, "per_batch": [{k: v for k, v in b.items() if k != "projection_dim"} for b in per_batch]}


LABELS = {
    "entropy_average": "H(Z2), vMF KDE, ER authors' average (resubstitution)",
    "entropy_expectation": "H(Z2), vMF KDE, ER authors' expectation (their plug-in)",
    "entropy_loo": "H(Z2), vMF KDE leave-one-out",
    "reconstruction": "reconstruction E[log q(Z2|Z1)], q = vMF(Z1, kappa)",
    "i_er": "I_ER = H average + reconstruction",
    "reconstruction_predictor": "reconstruction, q = vMF(predictor(Z1), kappa)",
    "i_er_predictor": "I_ER with the predictor",
    "discrete_entropy": "H(Y2) of the batch-mean assignment (discrete)",
    "discrete_reconstruction": "discrete reconstruction -CE(Y2, student(view 1))",
    "discrete_i_er": "discrete I_ER",
}


def markdown(result: dict) -> str:
    lines = [f"Entropy and reconstruction of `{result['run']}` ({result['method']}), nats; kappa "
             f"{result['kappa']}, batch {result['batch_size']} x {result['batches']} batches of the "
             f"{result['split']} split, projection dim {result['projection_dim']}, "
             f"log C_d(kappa) = {result['log_vmf_normaliser']:.3f} (included: the continuous values are absolute).",
             "", "| estimate | value (nats) |", "|---|---:|"]
    lines += [f"| {LABELS[k]} | {v:.3f} |" for k, v in result["estimates"].items()]
    return "\n".join(lines)


def run(args) -> int:
    result = measure_run(args.run, args.kappa, args.batch_size, args.batches, args.split, args.seed, args.root)
    out = Path(args.out) if args.out else Path(args.run) / "info"
    text = markdown(result)
    title = f"Entropy, reconstruction and I_ER of {Path(args.run).name} ({result['method']})"
    json_path, md_path = write_report(out, "er", result, title, text)
    print(text)
    print(f"\nwrote {json_path} and {md_path}")
    return 0
