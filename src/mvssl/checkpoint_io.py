"""Checkpoint I/O for every file mvssl writes with ``torch.save``: an atomic save (``save_atomic``), a load
that never runs code (``safe_torch_load``: ``weights_only=True``), a content checksum stored inside the
object and verified on load (one flipped bit is detected instead of loading silently), and which of a
run's checkpoints to resume from. A leaf: it imports nothing of mvssl but ``ConfigError``."""
from __future__ import annotations

import hashlib
import io
import os
import pickletools
import re
import struct
from pathlib import Path
from typing import Callable

import torch

from .config import ConfigError

CHECKPOINT_DIR = "checkpoints"  # in a run folder
LAST = "last.ckpt"
TRAINING_KEYS = ("state_dict", "loops", "global_step", "mvssl_config", "mvssl_state")
CHECKSUM_KEY = "mvssl_checksum"


def content_digest(obj) -> str:
    """SHA-256 hex digest of a nest of dicts, lists, tuples, tensors and scalars. Equal for
    an object and what ``torch.load`` returns for it; any changed value, key, dtype, shape
    or tensor byte changes it."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}:".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}:".encode())
        for key, value in obj.items():
            _feed(h, key)
            _feed(h, value)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)}:".encode())
        for value in obj:
            _feed(h, value)
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    elif obj is None or isinstance(obj, (bool, int, str, bytes, torch.dtype, torch.device)):
        text = repr(obj).encode()
        h.update(f"{type(obj).__name__}{len(text)}:".encode() + text)
    else:
        raise TypeError(f"cannot checksum a {type(obj).__name__}: mvssl files hold only tensors and plain containers")


def with_checksum(state):
    """``state`` plus its checksum (a new dict; anything but a dict is returned as it is)."""
    if not isinstance(state, dict):
        return state
    body = {k: v for k, v in state.items() if k != CHECKSUM_KEY}
    return {**body, CHECKSUM_KEY: content_digest(body)}


def checksum_mismatch(state) -> bool | None:
    """True when ``state`` carries a checksum that its content does not match, False when
    it matches, None when it carries none (a file written before mvssl added checksums)."""
    if not isinstance(state, dict) or CHECKSUM_KEY not in state:
        return None
    body = {k: v for k, v in state.items() if k != CHECKSUM_KEY}
    return content_digest(body) != state[CHECKSUM_KEY]


class CorruptCheckpointError(ValueError):
    """A file that is truncated, damaged or not written by ``torch.save``."""


class UnsafeCheckpointError(ValueError):
    """A file whose unpickling would import Python objects, i.e. could run code."""


def write_text_atomic(path: Path, text: str) -> None:
    """Write beside ``path``, then rename over it: a kill leaves the old file or the new one (or none)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, newline="")  # as given: a CSV's \r\n line ends stay
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_atomic(obj, path: str | Path) -> None:
    """Write beside the target, flush to disk, then rename over it: a crash or a kill at
    any moment leaves either the old file or the new one, never a half-written file. A dict
    is stamped with its content checksum (``content_digest``). A failed write (a full disk,
    a read-only folder) raises ``OSError`` and leaves no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = io.BytesIO()
    torch.save(with_checksum(obj), data)  # in memory first: a failing disk then raises a real OSError
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            raise OSError(err.errno, err.strerror, str(tmp)) from err  # say which file could not be written
        raise
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def safe_torch_load(path: str | Path) -> dict:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only, never
    arbitrary pickled objects. A file that asks for Python objects raises
    ``UnsafeCheckpointError`` naming them; a damaged file, or one whose content checksum
    does not match (``content_digest``), raises ``CorruptCheckpointError``. The checksum
    is removed from what is returned."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - every unpickling failure means "not a safe checkpoint"
        unsafe = pickled_globals(path)
        if unsafe:
            raise UnsafeCheckpointError(
                f"{path} was refused by the safe loader: loading it would import {unsafe}, which can run "
                "arbitrary code. mvssl files hold only tensors and plain containers; delete the file unless "
                "you know where it came from.") from err
        reason = str(err).split(". ")[0] if str(err) else ""
        raise CorruptCheckpointError(f"{path} is not a loadable mvssl checkpoint: truncated, damaged or not "
                                     f"written by torch.save (refused by the safe loader: "
                                     f"{type(err).__name__}: {reason})") from err
    if checksum_mismatch(state):
        raise CorruptCheckpointError(f"{path} failed its content checksum: its bytes changed after mvssl wrote "
                                     "them (disk or copy damage, or an edit); it is not used")
    if isinstance(state, dict):
        state.pop(CHECKSUM_KEY, None)
    return state


def pickled_globals(path: str | Path) -> list[str]:
    """The Python objects outside the weights-only allow-list that a file would import on
    load, found without unpickling it; [] for a damaged file."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # noqa: BLE001 - not a torch zip file; try it as a plain pickle below
        pass
    found, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(Path(path).read_bytes()):
            if op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001 - not a pickle either: damaged, nothing to report
        return []
    return found


def _step_of(path: Path) -> int:
    match = re.fullmatch(r"step(\d+)\.ckpt", path.name)
    return int(match.group(1)) if match else -1


def load_training_checkpoint(path: Path) -> dict:
    """A complete mvssl training checkpoint, or ``CorruptCheckpointError``; a file that
    would run code raises ``UnsafeCheckpointError``."""
    state = safe_torch_load(path)
    missing = [k for k in TRAINING_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CorruptCheckpointError(f"{path} is not a complete mvssl training checkpoint (missing {missing})")
    return state


def latest_complete_checkpoint(run_dir: Path, warn: Callable[[str], None]) -> tuple[Path, dict] | None:
    """The newest checkpoint of a run that loads completely and passes its checksum, or
    None when the run has no checkpoint file yet. Damaged files are skipped with a warning
    naming them; a file that would run code stops the search."""
    folder = run_dir / CHECKPOINT_DIR
    files = sorted(folder.glob("*.ckpt")) if folder.is_dir() else []
    if not files:
        return None
    skipped: list[str] = []

    def attempt(path: Path) -> dict | None:
        try:
            return load_training_checkpoint(path)
        except CorruptCheckpointError as err:
            skipped.append(str(err))
            return None
        except FileNotFoundError:  # last.ckpt, a link, left pointing at a pruned or moved file
            skipped.append(f"{path} points to {os.readlink(path) if path.is_symlink() else 'nothing'}, which is gone")
            return None

    best: tuple[Path, dict] | None = None
    last = folder / LAST
    if last in files and (state := attempt(last)) is not None:
        best = (last, state)
    for path in sorted((f for f in files if _step_of(f) >= 0), key=_step_of, reverse=True):
        if best is not None and _step_of(path) <= best[1]["global_step"]:
            break
        if (state := attempt(path)) is not None:
            best = (path, state)
            break
    if best is None:
        raise ConfigError(f"--resume {run_dir}: none of its checkpoints is complete:\n  " + "\n  ".join(skipped)
                          + f"\nto train it again from step 0 with its config, move the files out of {folder}")
    for message in skipped:
        warn(f"warning: skipped a damaged checkpoint: {message}")
    return best


def remove_partial_writes(run_dir: Path) -> None:
    """Temporary files left by a kill during a write (checkpoints, config, metrics log)."""
    for folder in (run_dir, run_dir / CHECKPOINT_DIR, run_dir / "logs"):
        for tmp in folder.glob("*.tmp"):
            tmp.unlink()
