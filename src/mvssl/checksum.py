"""Content checksums of the files mvssl writes with ``torch.save`` (checkpoints, encoders,
feature caches): a SHA-256 over every key, value and tensor byte of the saved object,
stored inside the object under ``CHECKSUM_KEY`` and verified on load, so one flipped bit
anywhere in the content is detected instead of loading silently."""
from __future__ import annotations

import hashlib
import struct

import torch

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
