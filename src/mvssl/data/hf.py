"""Hugging Face datasets on disk (docs/data.md): a ``save_to_disk`` dataset or a folder of parquet files,
memory-mapped by the ``datasets`` package (``pip install 'mvssl[scale]'``; nothing is downloaded). Images
(an Image feature, encoded bytes, a path or an array of bands) go through the folder decoder; labels are
integers (-1 unlabelled) or strings; without a test split a seeded 20% of each class is held out."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .files import FileSplits, ImageFiles, decode_image
from .decode import decode_array

TEST_SPLITS = ("test", "validation", "valid", "val")


def _datasets():
    try:
        import datasets
    except ImportError:
        raise ValueError("data.dataset hf needs the datasets package: pip install 'mvssl[scale]'") from None
    datasets.disable_progress_bars()
    datasets.config.HF_DATASETS_OFFLINE = True  # local files only: never ask the Hub about a builder or a file
    return datasets


def _parquet_splits(root: Path) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {}
    for path in sorted(str(p) for p in root.rglob("*.parquet")):
        parts = [p.lower() for p in Path(path).relative_to(root).parts]
        name = next((s for s in ("train", *TEST_SPLITS) for part in parts if part.startswith(s)), "train")
        splits.setdefault("test" if name in TEST_SPLITS else "train", []).append(path)
    return splits


def open_hf(root: str) -> dict:
    """``{"train": Dataset, "test": Dataset or None}`` of a saved dataset or a parquet folder."""
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(f"data.root {root!r}: no such folder (a dataset saved with save_to_disk, or parquet "
                                "files)")
    datasets = _datasets()
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            test = next((s for s in TEST_SPLITS if s in loaded), None)
            if "train" not in loaded:
                raise ValueError(f"data.root {root}: its splits are {list(loaded)}; mvssl trains on 'train'")
            return {"train": loaded["train"], "test": loaded[test] if test else None}
        return {"train": loaded, "test": None}
    splits = _parquet_splits(path)
    if not splits.get("train"):
        raise ValueError(f"data.root {root}: neither a saved dataset (dataset_dict.json or state.json) nor parquet "
                         "training files (*.parquet) under it")
    loaded = datasets.load_dataset("parquet", data_files=splits)
    return {"train": loaded["train"], "test": loaded["test"] if "test" in loaded else None}


def check_key(ds, key: str, what: str, root: str) -> None:
    if key not in ds.column_names:
        raise ValueError(f"data.{what} {key!r} is not a column of {root}; its columns are: "
                         f"{', '.join(ds.column_names)}")


def _leaf_dtype(arrow_type) -> np.dtype | None:
    """The numpy dtype of the values of a (nested) arrow list or ``datasets`` array type."""
    t = arrow_type
    for _ in range(8):
        if isinstance(t, str):  # a datasets ArrayND extension type names it
            return np.dtype(t)
        if hasattr(t, "value_type"):
            t = t.value_type
        elif hasattr(t, "storage_type"):
            t = t.storage_type
        else:
            break
    try:
        return np.dtype(t.to_pandas_dtype())
    except (AttributeError, NotImplementedError, TypeError):
        return None


class RowFiles(ImageFiles):
    """Rows of a ``datasets.Dataset``: ``items`` are row numbers; the image is read from
    ``key`` without decoding by ``datasets`` (arrow format), then by mvssl's decoder."""

    def __init__(self, dataset, key: str, rows: list, labels: torch.Tensor, size: int, channels: int = 3):
        super().__init__(rows, labels, size, channels)
        self.dataset, self.key = dataset.select_columns([key]).with_format("arrow"), key
        self.dtype = _leaf_dtype(dataset.data.schema.field(key).type)  # arrays of bands keep their stored dtype

    def read_item(self, row: int) -> torch.Tensor:
        value = self.dataset[row:row + 1].column(0).to_pylist()[0]
        name = f"row {row}"
        if isinstance(value, dict):  # the Image feature: encoded bytes, or a path
            name = value.get("path") or name
            value = value.get("bytes") or value.get("path")
        if value is None:
            raise ValueError(f"row {row} has no image in column {self.key}")
        if isinstance(value, (bytes, bytearray)):
            return decode_image(io.BytesIO(value), self.size, self.channels, name=str(name))
        if isinstance(value, str):
            return decode_image(value, self.size, self.channels)
        values = np.asarray(value, dtype=self.dtype if self.dtype is not None and self.dtype.kind in "uif" else None)
        return torch.from_numpy(decode_array(values, self.size, self.channels, str(name))).permute(2, 0, 1).contiguous()

    def name(self, i: int) -> str:
        return f"{self.key}[{self.items[i]}]"


def _labels(ds, key: str | None) -> tuple[list, list[str]]:
    """The raw label of each row (None: unlabelled) and the class names of a ClassLabel."""
    if key is None:
        return [None] * len(ds), []
    return list(ds[key]), list(getattr(ds.features[key], "names", []) or [])


def hf_files(root: str, image_size: int, channels: int = 3, image_key: str | None = None,
             label_key: str | None = None, test_fraction: float = 0.2, seed: int = 0) -> FileSplits:
    """The train and test rows of a saved dataset or parquet folder (module docstring), as
    files to stream or decode; one ``ValueError`` line for a column that does not exist."""
    parts = open_hf(root)
    train_ds, test_ds = parts["train"], parts["test"]
    image_key = image_key or "image"
    check_key(train_ds, image_key, "image_key", root)
    if label_key is not None:
        check_key(train_ds, label_key, "label_key", root)
    elif "label" in train_ds.column_names:
        label_key = "label"
    raw_train, names = _labels(train_ds, label_key)
    if test_ds is not None and label_key is not None and label_key not in test_ds.column_names:
        test_ds = None  # a test split without labels evaluates nothing: a seeded part of train does
    raw_test = _labels(test_ds, label_key)[0] if test_ds is not None else []
    known = sorted({v for v in raw_train + raw_test if v is not None and v != -1}, key=lambda v: (str(type(v)), v))
    if names and all(isinstance(v, int) for v in known):
        classes, lookup = names, {i: i for i in range(len(names))}
    else:
        classes, lookup = [str(v) for v in known], {v: i for i, v in enumerate(known)}

    def files(ds, raw) -> RowFiles:
        labels = torch.tensor([lookup.get(v, -1) if v is not None else -1 for v in raw], dtype=torch.int64)
        return RowFiles(ds, image_key, list(range(len(ds))), labels, image_size, channels)

    train = files(train_ds, raw_train)
    if test_ds is not None:
        check_key(test_ds, image_key, "image_key", root)
        test = files(test_ds, raw_test)
    else:
        train, test = train.split(test_fraction, seed)
    if len(classes) < 2 or not len(test):
        train.labels, classes = torch.full_like(train.labels, -1), []
        test = test.subset([])
    return FileSplits(train, test, classes)
