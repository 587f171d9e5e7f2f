"""``mvssl data pack FOLDER OUT --shard-size N``: an image folder written as WebDataset shards."""
from __future__ import annotations

from pathlib import Path

from ..pack import pack_folder

COMMAND = "pack"
HELP = "write an image folder as WebDataset shards (tar files) for --data.dataset webdataset"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="an image folder (class folders give cls labels)")
    parser.add_argument("out", help="the folder the shards go to (new or empty)")
    parser.add_argument("--shard-size", type=int, default=1000, help="images per shard (default 1000)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="decode and re-encode every image as PNG at this size (default: copy the files' bytes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order the images are written in")
    parser.add_argument("--channels", type=int, default=3,
                        help="with --image-size: the channels images are decoded to (data.channels; other than 1 "
                        "and 3 written as .npy)")


def run(args) -> int:
    if args.shard_size < 1:
        raise ValueError(f"--shard-size {args.shard_size}: must be at least 1 image per shard")
    if args.image_size is not None and args.image_size < 1:
        raise ValueError(f"--image-size {args.image_size}: must be at least 1 px")
    if not Path(args.folder).is_dir():
        raise ValueError(f"{args.folder}: no such image folder")
    if args.channels < 1:
        raise ValueError(f"--channels {args.channels}: must be at least 1")
    pack_folder(args.folder, args.out, args.shard_size, args.image_size, args.seed, channels=args.channels)
    return 0
