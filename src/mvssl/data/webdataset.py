"""WebDataset shards (docs/data.md): tar files whose members are grouped into samples by key, named by a
brace pattern. Each tar's headers (not its images) are read once when the run starts (``tar_files``,
written from the format's definition); image i is then one ``os.pread`` (``ShardFiles``), so shards go
through the streamed path of image folders: the same decoder and order, exact resume, one slice of
every global batch per DDP process. Damaged shards are found while indexing and counted (``skipped``)."""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .decode import ARRAY_EXTENSION
from .files import FileSplits, ImageFiles, decode_image
from .folders import IMAGE_EXTENSIONS

# the image entries a sample may hold, in the order one is chosen when it holds several
SAMPLE_IMAGES = tuple(dict.fromkeys(e.lstrip(".") for e in (*IMAGE_EXTENSIONS, ARRAY_EXTENSION)))
LABEL_ENTRY = "cls"


def expand_shards(pattern: str) -> list[str]:
    """The shard paths of a brace pattern (``train-{000..009}.tar``, ``{a,b}.tar``), in order;
    several patterns may be joined by ``::`` (the ``webdataset`` package's convention)."""
    from braceexpand import braceexpand  # installed with webdataset

    if "://" in pattern or pattern.startswith("pipe:"):
        raise ValueError(f"data.root {pattern!r}: shards are read from files (a local disk or a shared file system; "
                         "mount a bucket with FUSE), not URLs or pipes")
    return [path for part in pattern.split("::") for path in braceexpand(part)]


def split_key(name: str) -> tuple[str, str]:
    """(key, entry) of a tar member: the path up to the first dot of its file name, and the
    rest lower-cased (``a/b.seg.png`` -> (``a/b``, ``seg.png``)), as the ``webdataset``
    package groups members into samples."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


@dataclass
class ShardIndex:
    """Every sample of a set of shards: ``items`` (shard, byte offset, size, entry, key) of each
    image and its ``labels`` (the integer in its ``cls`` entry; -1 without one), and what was
    left out (``skipped``: one line each)."""

    shards: list[str]
    items: list[tuple] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


BLOCK = 512
REGULAR = (b"0", b"\0", b"7")  # tar type flags of a regular file


def _number(raw: bytes) -> int:
    """A tar header's numeric field: octal text, or base-256 when its first bit is set."""
    if raw[:1] and raw[0] & 0x80:
        return int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _pax(data: bytes) -> dict[str, str]:
    """The ``length key=value\n`` records of a pax extended header."""
    records, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        key, _, value = data[space + 1:pos + length].rstrip(b"\n").partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def tar_files(fd: int, length: int, small: dict[int, bytes] | None = None):
    """(name, data offset, size) of every regular file of an uncompressed tar (ustar, pax and
    GNU long names), from its headers alone, one ``os.pread`` each. With ``small``, each read
    takes the block after the header too, and a member of at most one block (a ``cls`` label)
    is put in ``small`` under its data offset: no second read for it. Raises ``EOFError`` where
    the archive is cut short and ``ValueError`` at a header that is not one (a bad checksum)."""
    offset, overrides = 0, {}
    while True:
        header = os.pread(fd, BLOCK if small is None else 2 * BLOCK, offset)
        after, header = header[BLOCK:], header[:BLOCK]
        if len(header) < BLOCK:
            if header.strip(b"\0") or offset == 0:
                raise EOFError(f"the archive ends inside a header at byte {offset}")
            return  # end of the file without the closing zero blocks: every member before it is whole
        if not header.strip(b"\0"):
            return  # the closing zero block
        stored = _number(header[148:156])
        if stored != sum(header[:148]) + 8 * 32 + sum(header[156:]):
            raise ValueError(f"not a tar header at byte {offset} (checksum mismatch)")
        size, flag = _number(header[124:136]), header[156:157]
        data = offset + BLOCK
        if data + size > length:
            raise EOFError(f"a member at byte {offset} ends past the end of the file")
        if flag in (b"x", b"L"):  # the next member's name (and size) as pax records or a GNU long name
            content = os.pread(fd, size, data)
            overrides = _pax(content) if flag == b"x" else {"path": content.rstrip(b"\0").decode(
                "utf-8", "surrogateescape")}
        elif flag != b"g":
            name = header[:100].split(b"\0", 1)[0]
            prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
            joined = prefix + b"/" + name if prefix else name
            name = overrides.get("path") or joined.decode("utf-8", "surrogateescape")
            size = int(overrides.get("size", size))
            if flag in REGULAR:
                if small is not None and size <= len(after):
                    small[data] = after[:size]
                yield name, data, size
            overrides = {}
        offset = data + -(-size // BLOCK) * BLOCK


def index_shard(path: str, index: ShardIndex) -> None:
    """Add the samples of one shard to ``index`` (headers only, each read with the block after it,
    which holds a ``cls`` label whole)."""
    try:
        f = open(path, "rb")
    except OSError as err:
        index.skipped.append(f"{path}: shard missing or unreadable ({err.strerror or err})")
        return
    with f:
        fd = f.fileno()
        samples: dict[str, dict[str, tuple[int, int]]] = {}
        small: dict[int, bytes] = {}  # contents read with their header: the labels
        problem = None
        try:
            for name, offset, size in tar_files(fd, os.fstat(fd).st_size, small):
                key, entry = split_key(name)
                samples.setdefault(key, {})[entry] = (offset, size)
        except (EOFError, ValueError, OSError) as err:
            if samples:  # the last sample may have lost entries: only the ones before it are kept
                samples.pop(next(reversed(samples)))
            problem = (f"{path}: shard truncated or damaged after {len(samples)} complete samples ({err}; those are "
                       "kept)") if samples else f"{path}: not a readable tar shard ({err})"
        for key, entries in samples.items():
            image = next((e for e in SAMPLE_IMAGES if e in entries), None)
            if image is None:
                index.skipped.append(f"{path}:{key}: no image in the sample (entries: {', '.join(sorted(entries))})")
                continue
            label = -1
            if LABEL_ENTRY in entries:
                offset, size = entries[LABEL_ENTRY]
                text = (small[offset] if offset in small else os.pread(fd, size, offset)).strip()
                try:
                    label = int(text)
                except ValueError:
                    index.skipped.append(f"{path}:{key}: its {LABEL_ENTRY} entry {text[:20]!r} is not an integer")
                    continue
            offset, size = entries[image]
            index.items.append((path, offset, size, image, key))
            index.labels.append(label)
        if problem:
            index.skipped.append(problem)


def index_shards(pattern: str) -> ShardIndex:
    shards = expand_shards(pattern)
    index = ShardIndex(shards)
    for path in shards:
        index_shard(path, index)
    return index


class ShardFiles(ImageFiles):
    """Images inside tar shards: ``items`` are (shard, offset, size, entry, key); each process
    keeps its own open shard files, read with ``os.pread`` (no shared file position, so the
    threads of ``decode_all`` can read one shard at once)."""

    def __init__(self, items: list, labels: torch.Tensor, size: int, channels: int = 3):
        super().__init__(items, labels, size, channels)
        self._open: dict = {}

    def _bytes(self, item) -> bytes:
        path, offset, size = item[:3]
        if path not in self._open:
            self._open[path] = open(path, "rb")
        data = os.pread(self._open[path].fileno(), size, offset)
        if len(data) != size:
            raise OSError(f"{path}: {len(data)} of {size} bytes (the shard changed since it was indexed)")
        return data

    def read_item(self, item) -> torch.Tensor:
        return decode_image(io.BytesIO(self._bytes(item)), self.size, self.channels, name=f"{item[4]}.{item[3]}")

    def name(self, i: int) -> str:
        path, _, _, entry, key = self.items[i]
        return f"{path}:{key}.{entry}"

    def shard_blocks(self) -> list[torch.Tensor]:
        """The indices of each shard's samples, in file order: ``IndexBatches``' blocks for
        ``data.shard_order`` (shards shuffled every epoch, each read front to back)."""
        by_shard: dict[str, list[tuple[int, int]]] = {}
        for i, (path, offset, *_rest) in enumerate(self.items):
            by_shard.setdefault(path, []).append((offset, i))
        return [torch.tensor([i for _, i in sorted(pairs)], dtype=torch.int64) for _, pairs in sorted(by_shard.items())]

    def __getstate__(self) -> dict:  # a DataLoader worker opens its own files
        return {**self.__dict__, "_open": {}}


def class_names(first_shard: str) -> dict[int, str]:
    """``classes.txt`` beside the shards (``mvssl data pack`` writes it: ``0 cat`` a line): the
    name of each ``cls`` value; {} without one."""
    path = Path(first_shard).parent / "classes.txt"
    if not path.is_file():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines())
    return {int(p[0]): p[1].strip() for p in pairs if len(p) == 2 and p[0].lstrip("-").isdigit()}


def shard_files(pattern: str, image_size: int, channels: int = 3, strict: bool = False, test_fraction: float = 0.2,
                seed: int = 0, warn=None) -> FileSplits:
    """The samples of the shards ``pattern`` names, split like an image folder: with labels of
    two classes or more, ``test_fraction`` of each class (seeded) is the test split; otherwise
    every sample trains, unlabelled. ``strict``: a damaged shard or sample raises."""
    index = index_shards(pattern)
    if index.skipped and strict:
        raise ValueError(f"data.strict: {index.skipped[0]}" + (f" (and {len(index.skipped) - 1} more)"
                                                               if len(index.skipped) > 1 else ""))
    if not index.items:
        detail = f": {index.skipped[0]}" if index.skipped else ""
        raise ValueError(f"no images in the {len(index.shards)} shard(s) of {pattern}{detail}")
    values = sorted(set(index.labels) - {-1})
    lookup = {v: i for i, v in enumerate(values)}
    labels = torch.tensor([lookup.get(v, -1) for v in index.labels], dtype=torch.int64)
    files = ShardFiles(index.items, labels, image_size, channels)
    if len(values) >= 2:
        names = class_names(index.shards[0])
        (train, test), classes = files.split(test_fraction, seed), [names.get(v, str(v)) for v in values]
    else:
        files.labels = torch.full_like(labels, -1)
        train, test, classes = files, files.subset([]), []
    splits = FileSplits(train, test, classes, index.skipped)
    if index.skipped and warn is not None:
        warn(f"shards {pattern}: left out {len(index.skipped)} damaged shard(s) or sample(s) (data.strict true fails "
             f"instead): {'; '.join(index.skipped[:3])}{' ...' if len(index.skipped) > 3 else ''}")
    return splits
