"""``mvssl data pack``: an image folder written as WebDataset shards (``data/webdataset.py``
reads them)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .datasets import image_folder_files
from .files import unreadable_errors
from .webdataset import LABEL_ENTRY

SHARD_NAME = "shard-{:06d}.tar"


def pack_folder(folder: str, out: str, shard_size: int, image_size: int | None = None, seed: int = 0,
                echo=print, channels: int = 3) -> dict:
    """Write the images of ``folder`` (as ``data.dataset folder`` lists them; class folders give ``cls``
    labels, their names in ``OUT/classes.txt``) into shards of ``shard_size`` samples in a seeded random
    order (every shard holds every class): the files' bytes as they are, or with ``image_size`` re-encoded
    at that size (PNG for 1 or 3 channels, else ``.npy``). Returns what was written and the ``data.root``."""
    import webdataset as wds

    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise ValueError(f"{out} is a file, not a folder for the shards")
    if out_path.is_dir() and any(out_path.glob("shard-*.tar")):
        raise ValueError(f"{out} already holds shards (shard-*.tar): choose an empty or new folder")
    splits = image_folder_files(folder, image_size or 1, channels=channels)
    files = splits.train + splits.test if len(splits.test) else splits.train
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    out_path.mkdir(parents=True, exist_ok=True)
    written, skipped = 0, []
    with wds.ShardWriter(str(out_path / SHARD_NAME.replace("{:06d}", "%06d")), maxcount=shard_size,
                         verbose=0) as sink:
        for i in order:
            path = files.items[i]
            if image_size is None:
                data, ext = Path(path).read_bytes(), Path(path).suffix.lower().lstrip(".")
            else:
                try:
                    data, ext = _encoded(files.read(i))
                except unreadable_errors():
                    skipped.append(path)
                    continue
            sample = {"__key__": f"{written:09d}", ext: data}
            if int(files.labels[i]) >= 0:
                sample[LABEL_ENTRY] = str(int(files.labels[i]))
            sink.write(sample)
            written += 1
    count = -(-written // shard_size)
    pattern = str(out_path / f"shard-{{000000..{count - 1:06d}}}.tar")
    (out_path / "classes.txt").write_text("".join(f"{i} {c}\n" for i, c in enumerate(splits.classes)))
    labels = f"{len(splits.classes)} classes as cls labels, names in classes.txt" if splits.classes else "unlabelled"
    echo(f"wrote {written} images into {count} shard(s) of up to {shard_size} under {out_path} ({labels})"
         f"{f'; left out {len(skipped)} unreadable file(s): ' + ', '.join(skipped[:3]) if skipped else ''}. "
         f"Train on them with --data.dataset webdataset --data.root '{pattern}'")
    return {"images": written, "shards": count, "pattern": pattern, "classes": splits.classes, "skipped": skipped}


def _encoded(image: torch.Tensor) -> tuple[bytes, str]:
    """(bytes, entry) of uint8 [C, H, W]: a PNG of 1 or 3 channels, else a ``.npy`` array."""
    buffer, bands_last = io.BytesIO(), image.permute(1, 2, 0).numpy()
    if image.shape[0] in (1, 3):
        Image.fromarray(bands_last.squeeze(2) if image.shape[0] == 1 else bands_last).save(buffer, format="PNG")
        return buffer.getvalue(), "png"
    # channels last: a square image's bands are then never mistaken for its rows (decode.array_bands)
    np.save(buffer, bands_last, allow_pickle=False)
    return buffer.getvalue(), "npy"
