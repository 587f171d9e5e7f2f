"""The data path, in memory against streamed from disk, on generated JPEG folders and the
WebDataset shards packed from them (``mvssl data pack``; docs/data.md, "Measured"): peak
resident memory of a short ``mvssl train`` (a subprocess: its ``VmHWM``, read until it exits),
images/s of the data path with the views engine beside a ResNet-18 SimCLR step (``bench train``'s)
in interleaved rounds, and the seconds to index the shards. Decoding workers are processes: on
a machine with few cores they compete with the measuring one (the machine line gives the load)."""
from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.batches import IndexBatches, endless
from ..data.datasets import image_folder_files
from ..data.files import decode_all
from ..data.pack import pack_folder
from ..data.streaming import streamed_batches
from ..data.webdataset import index_shards, shard_files
from ..eval.report import markdown_table
from ..views import AugmentedViews, simclr
from .common import add_common_arguments, describe, interleaved, machine, plain_args, \
    started, write_report
from .train import make_step, parse_variant

COMMAND = "data"
HELP = "peak memory of mvssl train and images/s of the data path: in memory vs streamed from disk"


def write_jpeg_folder(root: Path, count: int, size: int, classes: int = 10, seed: int = 0) -> Path:
    """``count`` JPEGs of ``size`` px in ``classes`` class folders (class-tinted noise); kept
    and reused when the folder already holds them."""
    marker = root / f".complete-{count}-{size}"
    if marker.exists():
        return root
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (classes, 3))
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        c = i % classes
        pixels = (palette[c] + rng.normal(0, 30, (size, size, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(root / f"class{c}" / f"{i:06d}.jpg", quality=90)
    marker.touch()
    return root


def shards_of(folder: Path, shard_size: int) -> str:
    """The shards of ``folder`` (``mvssl data pack``, kept beside it and reused): their pattern."""
    out = folder.with_name(f"{folder.name}-shards{shard_size}")
    marker = out / ".pattern"
    if not marker.exists():
        shutil.rmtree(out, ignore_errors=True)
        marker.parent.mkdir(parents=True)
        pattern = pack_folder(str(folder), str(out), shard_size, echo=lambda *_: None)["pattern"]
        marker.write_text(pattern)
    return marker.read_text()


def train_command(root, out: Path, args, in_memory: bool, dataset: str = "folder") -> list[str]:
    return [sys.executable, "-m", "mvssl.cli", "train", "--data.dataset", dataset, "--data.root", str(root),
            "--data.image_size", str(args.size), "--data.in_memory", str(in_memory).lower(),
            "--data.workers", str(args.train_workers), "--backbone.width", "8", "--optim.batch_size", str(args.batch),
            "--trainer.max_steps", str(args.steps), "--optim.warmup_steps", "1", "--eval.enabled", "false",
            "--trainer.progress", "false", "--trainer.out_dir", str(out), "--trainer.accelerator", "cpu"]


def high_water_rss(pid: int) -> int:
    """Peak resident bytes of process ``pid`` so far (``VmHWM``: its own, reset by exec, unlike
    ``ru_maxrss``, which a child inherits from the process that started it)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def peak_rss_of(command: list[str], every: float = 0.05) -> tuple[int, float]:
    """(peak resident bytes of ``command``'s process, read every ``every`` seconds until it
    exits; seconds it ran)."""
    started, peak = time.perf_counter(), 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        while proc.poll() is None:
            try:
                peak = max(peak, high_water_rss(proc.pid))
            except (OSError, StopIteration):  # exiting: the last reading stands
                pass
            time.sleep(every)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command[:4])} ... failed: {err.read().decode()[-1500:]}")
    return peak, time.perf_counter() - started


def memory_rows(args, work: Path) -> tuple[list[list], dict]:
    rows, data = [], {}
    for count in args.counts:
        root = write_jpeg_folder(work / f"jpeg{count}-{args.size}", count, args.size)
        pattern = shards_of(root, args.shard_size)
        shards = -(-count // args.shard_size)
        runs = [("streamed from the folder", root, False, "folder"), ("in memory", root, True, "folder"),
                (f"streamed from {shards} shards", pattern, False, "webdataset")]
        for name, where, in_memory, dataset in runs:
            rss, seconds = peak_rss_of(train_command(where, work / "runs", args, in_memory, dataset))
            data[f"{name.split(' from')[0]} {dataset} {count}"] = {"images": count, "dataset": dataset,
                                                                   "shards": shards if dataset == "webdataset" else 0,
                                                                   "peak_rss_mib": rss / 2**20, "seconds": seconds}
            rows.append([f"{count:,}", name, f"{rss / 2**20:.0f}", f"{seconds:.0f}"])
    return rows, data


def data_path_fns(args, root: Path, pattern: str) -> dict:
    """``name -> fn()`` running ``args.rounds_batches`` batches of the data path: in memory
    (index batches into decoded images), streamed from the folder and from its shards with
    each number of workers, each followed by the SimCLR views of the batch."""
    files = image_folder_files(str(root), args.size).train
    shard_train = shard_files(pattern, args.size).train
    source = AugmentedViews(None, {}, [simclr(args.size) for _ in range(2)])
    generator = torch.Generator().manual_seed(0)
    images, _, _ = decode_all(files, strict=True)

    def runner(batches, to_images):
        def fn():
            for batch in itertools.islice(batches, args.batches):
                source.views_of(to_images(batch), {}, generator)
        return fn

    fns = {"in memory": runner(endless(IndexBatches(len(files), args.batch)), lambda idx: images[idx])}
    sources = (("folder", files, None), ("shards", shard_train, None),
               ("shards in shard order", shard_train, shard_train.shard_blocks()))
    for source_name, source_files, blocks in sources:
        for w in args.workers:
            loader = streamed_batches(source_files, args.batch, workers=w, blocks=blocks)
            fns[f"streamed from {source_name}, {w} worker{'s' if w != 1 else ''}"] = runner(endless(loader),
                                                                                           lambda b: b["images"])
    return fns


def add_arguments(parser) -> None:
    parser.add_argument("--counts", type=int, nargs="+", default=[5000, 40000],
                        help="images in the generated JPEG folders of the memory comparison")
    parser.add_argument("--size", type=int, default=32, help="image side (JPEGs and training)")
    parser.add_argument("--shard-size", type=int, default=100, help="images per shard (mvssl data pack)")
    parser.add_argument("--batch", type=int, default=64, help="images per batch")
    parser.add_argument("--step-batch", type=int, default=32, help="images per ResNet-18 step")
    parser.add_argument("--steps", type=int, default=10, help="training steps of each mvssl train run")
    parser.add_argument("--train-workers", type=int, default=0,
                        help="data.workers of the memory runs (0: one process, whose peak is the run's)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="decoding workers of the streamed "
                        "data path in the images/s comparison")
    parser.add_argument("--batches", type=int, default=30, help="batches per timed round of the data path (more than "
                        "the loaders prefetch while the other variants run)")
    parser.add_argument("--work-dir", help="where the JPEG folders are written and kept (default: a temporary one)")
    parser.add_argument("--no-memory", action="store_true", help="skip the mvssl train runs")
    parser.add_argument("--no-step", action="store_true", help="skip the ResNet-18 step")
    add_common_arguments(parser)


def run(args) -> int:
    info_before = started(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        text, data = [], {"machine": info_before, "args": plain_args(args)}
        if not args.no_memory:
            rows, data["memory"] = memory_rows(args, work)
            text.append(f"Peak resident memory of `mvssl train` ({args.steps} steps, batch {args.batch}, ConvNet width "
                        f"8, {args.size} px JPEGs, shards of {args.shard_size}, data.workers {args.train_workers}, no "
                        "evaluation):\n\n"
                        + markdown_table(["images", "data path", "peak RSS (MiB)", "seconds"], rows))
        root = write_jpeg_folder(work / f"jpeg{args.counts[0]}-{args.size}", args.counts[0], args.size)
        pattern = shards_of(root, args.shard_size)
        indexing = {}
        for count in args.counts:
            where = shards_of(write_jpeg_folder(work / f"jpeg{count}-{args.size}", count, args.size), args.shard_size)
            started_at = time.perf_counter()  # reading the shards' tar headers, not their images
            samples = len(index_shards(where).items)
            indexing[count] = {"seconds": time.perf_counter() - started_at, "samples": samples,
                               "shards": -(-count // args.shard_size)}
        data["indexing"] = indexing
        text.append("Indexing the shards when a run starts (their tar headers, not their images):\n\n" + markdown_table(
            ["images", "shards", "seconds"], [[f"{v['samples']:,}", v["shards"], f"{v['seconds']:.2f}"]
                                              for v in indexing.values()]))
        fns = data_path_fns(args, root, pattern)
        step = None if args.no_step else make_step(Namespace(
            method="simclr", backbone="resnet18", width=16, size=args.size, batch=args.step_batch, views=2,
            local_crops=0, local_size=16, device="cpu"), parse_variant("fp32+cl"), max(4 * args.step_batch, 1024))[0]
        timed = {**fns, **({"ResNet-18 SimCLR step": step} if step else {})}
        seconds = interleaved(timed, repeats=args.repeats, warmup=1)
        per_round = {name: args.batches * args.batch if name in fns else args.step_batch for name in timed}
        rate = {name: per_round[name] / sec for name, sec in seconds.items()}
        rows = [[name, f"{rate[name]:,.0f}" if rate[name] >= 100 else f"{rate[name]:.2f}",
                 f"{rate['in memory'] / rate[name]:.2f}x"] for name in timed]
        data["images_per_second"] = rate
        shards = -(-args.counts[0] // args.shard_size)
        text.append(f"Images/s of the data path (batch {args.batch} of {args.size} px from the {args.counts[0]:,}-image "
                    f"folder or its {shards} shards, then its two SimCLR views), medians of "
                    f"{args.repeats} interleaved rounds of {args.batches} batches, beside a ResNet-18 (CIFAR stem) "
                    "SimCLR training step (fp32, channels_last, views made in the step) in the same rounds:\n\n"
                    + markdown_table(["data path", "images/s", "in memory / this"], rows))
        info = machine()
        data["machine"] = info
        header = f"machine: {describe(info)} (load before: {info_before['load_average_1min']:.2f})"
        write_report(args.out, "data", "\n\n".join([header, *text]), data)
    return 0
